package smartproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-smartproxy/smartproxy/discovery"
)

// holdingBackend answers every request with its name; one to /hold only
// once the test lets the held requests go.
type holdingBackend struct {
	name    string
	srv     *httptest.Server
	arrived chan struct{} // a held request reached it (or one of the others sharing it)

	mu   sync.Mutex
	gate chan struct{} // closed: the held requests answer
}

func newHoldingBackend(t *testing.T, name string, arrived chan struct{}) *holdingBackend {
	hb := &holdingBackend{name: name, arrived: arrived, gate: make(chan struct{})}
	hb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			hb.mu.Lock()
			gate := hb.gate
			hb.mu.Unlock()
			hb.arrived <- struct{}{}
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, hb.name)
	}))
	t.Cleanup(hb.srv.Close)
	t.Cleanup(hb.letGo) // first: a failed test leaves none held
	return hb
}

// letGo answers the requests held so far.
func (hb *holdingBackend) letGo() {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	close(hb.gate)
	hb.gate = make(chan struct{})
}

func (hb *holdingBackend) found(weight int) discovery.Backend {
	return discovery.Backend{URL: hb.srv.URL, Host: "svc.test", Weight: weight}
}

// answer is what a request through the handler got.
type answer struct {
	code int
	body string
	err  error
}

// serveOnce sends one request for path through h, as Caddy would.
func serveOnce(h *Handler, path string) answer {
	r := httptest.NewRequest("GET", "http://example.com"+path, nil)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.ServerCtxKey, new(caddyhttp.Server))
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{
		caddyhttp.ClientIPVarKey: "192.0.2.1", caddyhttp.TrustedProxyVarKey: false})
	w := httptest.NewRecorder()
	err := h.ServeHTTP(w, r.WithContext(ctx), caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	return answer{code: w.Code, body: w.Body.String(), err: err}
}

// discoveredHandler provisions a handler whose default route has DNS
// discovery (of a resolver that never answers, so the watcher changes
// nothing) and returns the route's membership, fed the sets of feed
// instead of the watcher's, with sweeps every 5ms.
func discoveredHandler(t testing.TB) (*Handler, *membership, func(...discovery.Backend)) {
	return discoveredHandlerWith(t, "")
}

// discoveredHandlerWith is discoveredHandler with more of the handler's
// JSON (`"key":value,...`).
func discoveredHandlerWith(t testing.TB, more string) (*Handler, *membership, func(...discovery.Backend)) {
	h := provisioned(t, new(Handler), `{`+more+`"discovery":{"dns":{"name":"svc.test","resolvers":["127.0.0.1:22400"],"timeout":"100ms"}}}`)
	d := h.def.members
	var mu sync.Mutex
	var cur []discovery.Backend
	d.mu.Lock()
	d.backends = func() []discovery.Backend { mu.Lock(); defer mu.Unlock(); return slices.Clone(cur) }
	d.sweepEvery = 5 * time.Millisecond
	d.mu.Unlock()
	return h, d, func(set ...discovery.Backend) {
		mu.Lock()
		cur = set
		mu.Unlock()
		d.update() // as the watcher's change does
	}
}

func (d *membership) drainingLen() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.draining)
}

// holders is the number of members holding backend hb's in-flight count
// in route rt (0: none, the shared state is gone).
func holders(t *testing.T, rt *route, hb *holdingBackend) int {
	t.Helper()
	key, err := stateKey{route: rt.name, backend: hb.srv.URL}.poolKey(inFlights.kind)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := inFlights.References(key)
	return n
}

// hold starts a request to /hold through h and waits until a backend holds
// it (tells arrived); its answer comes on the channel.
func hold(t *testing.T, h *Handler, arrived chan struct{}) <-chan answer {
	t.Helper()
	out := make(chan answer, 1)
	go func() { out <- serveOnce(h, "/hold") }()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("a held request never reached a backend")
	}
	return out
}

// twoBackends are a and b, telling one channel of held requests.
func twoBackends(t *testing.T) (a, b *holdingBackend, arrived chan struct{}) {
	arrived = make(chan struct{}, 100)
	return newHoldingBackend(t, "a", arrived), newHoldingBackend(t, "b", arrived), arrived
}

// TestMembershipLetsGoOfReplacedMembersUnderLoad: DNS answers that keep
// changing the backends' weights replace their members while requests are
// in flight on the old and new ones (held by the backends, plus a steady
// stream of quick ones); the drained members are let go at once, so over
// 100 changes the draining list stays empty and each address's shared
// state has one holder, the current member; every held request still
// gets its backend's answer.
func TestMembershipLetsGoOfReplacedMembersUnderLoad(t *testing.T) {
	a, b, arrived := twoBackends(t)
	h, d, feed := discoveredHandler(t)
	feed(a.found(1), b.found(1))

	stop := make(chan struct{})
	quick := make(chan answer, 1)
	go func() { // steady load, bounded in count
		bad := answer{code: http.StatusOK}
		defer func() { quick <- bad }()
		for range 5000 {
			select {
			case <-stop:
				return
			default:
			}
			if got := serveOnce(h, "/"); got.err != nil || got.code != http.StatusOK || (got.body != "a" && got.body != "b") {
				bad = got
			}
		}
	}()

	var held []<-chan answer
	for i := range 100 {
		if i%10 == 0 {
			held = append(held, hold(t, h, arrived), hold(t, h, arrived))
		}
		feed(a.found(1+i%7), b.found(1+(i+3)%5))
		if n := d.drainingLen(); n > 0 {
			t.Fatalf("change %d: %d members draining, want 0: each was replaced by one holding the same state", i, n)
		}
		if na, nb := holders(t, h.def, a), holders(t, h.def, b); na != 1 || nb != 1 {
			t.Fatalf("change %d: shared state held by %d and %d members, want 1 each", i, na, nb)
		}
	}
	close(stop)
	if got := <-quick; got.err != nil || got.code != http.StatusOK {
		t.Fatalf("a request during the changes got %d %q (%v)", got.code, got.body, got.err)
	}
	a.letGo()
	b.letGo()
	for i, c := range held {
		select {
		case got := <-c:
			if got.err != nil || got.code != http.StatusOK || (got.body != "a" && got.body != "b") {
				t.Fatalf("held request %d: %d %q (%v)", i, got.code, got.body, got.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("held request %d never answered", i)
		}
	}
	if n := d.drainingLen(); n > 0 || holders(t, h.def, a) != 1 {
		t.Fatalf("after the requests: %d draining, %d holders of a", n, holders(t, h.def, a))
	}
}

// TestMembershipRemovedMemberDrainsThenGoes: a backend removed from the
// answer with a request in flight is kept until that request ends, then
// let go by the timer with no further change; one that comes back while
// its old member drains lets the old one go at once. Held requests get
// their answers throughout.
func TestMembershipRemovedMemberDrainsThenGoes(t *testing.T) {
	a, b, arrived := twoBackends(t)
	h, d, feed := discoveredHandler(t)
	want := func(c <-chan answer, body string) {
		t.Helper()
		select {
		case got := <-c:
			if got.err != nil || got.code != http.StatusOK || got.body != body {
				t.Fatalf("held request: %d %q (%v), want 200 %q", got.code, got.body, got.err, body)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("held request never answered")
		}
	}

	// Back while draining: the old member goes at once.
	feed(a.found(1))
	first := hold(t, h, arrived)
	feed(b.found(1))
	if n, na := d.drainingLen(), holders(t, h.def, a); n != 1 || na != 1 {
		t.Fatalf("a removed with a request in flight: %d draining, %d holders; want 1, 1", n, na)
	}
	feed(a.found(1), b.found(1))
	if n, na := d.drainingLen(), holders(t, h.def, a); n != 0 || na != 1 {
		t.Fatalf("a back: %d draining, %d holders; want 0, 1", n, na)
	}
	a.letGo()
	want(first, "a")

	// Removed for good: kept while its request is in flight, then gone
	// without another change.
	feed(a.found(1))
	second := hold(t, h, arrived)
	feed(b.found(1))
	for range 3 {
		d.timedSweep() // as the timer does
		if n, na := d.drainingLen(), holders(t, h.def, a); n != 1 || na != 1 {
			t.Fatalf("a removed, its request in flight: %d draining, %d holders; want 1, 1", n, na)
		}
	}
	a.letGo()
	want(second, "a")
	deadline := time.Now().Add(5 * time.Second)
	for d.drainingLen() > 0 || holders(t, h.def, a) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a's request done, yet %d draining and %d holders of its state after 5s", d.drainingLen(), holders(t, h.def, a))
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMembershipReplacedMemberCountsAgainstTheSharedCap: requests in flight
// on a member that was replaced (and let go) still hold the address's
// capped slots, so the new member refuses a request past the cap, and
// they give their slots back as they end: the cap is whole again, neither
// leaked nor doubled. (It guards what letting go at once relies on: the
// old member's state is the new one's.)
func TestMembershipReplacedMemberCountsAgainstTheSharedCap(t *testing.T) {
	a, _, arrived := twoBackends(t)
	h, d, feed := discoveredHandlerWith(t, `"load_balancer":{"max_requests":3},"circuit_breaker":{},`)
	refused := func(when string) {
		t.Helper()
		got := serveOnce(h, "/")
		var he caddyhttp.HandlerError
		if !errors.As(got.err, &he) || he.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s: a request past the cap got %d %q (%v), want 503", when, got.code, got.body, got.err)
		}
	}
	feed(a.found(1))
	held := []<-chan answer{hold(t, h, arrived), hold(t, h, arrived), hold(t, h, arrived)}
	feed(a.found(2)) // replaced: the old member is let go with its 3 requests in flight
	if n := d.drainingLen(); n != 0 {
		t.Fatalf("%d draining after the replacement, want 0", n)
	}
	refused("3 in flight on the replaced member")
	a.letGo()
	for _, c := range held {
		if got := <-c; got.err != nil || got.body != "a" {
			t.Fatalf("held request on the replaced member: %d %q (%v)", got.code, got.body, got.err)
		}
	}
	if got := serveOnce(h, "/"); got.err != nil || got.body != "a" {
		t.Fatalf("after the held requests: %d %q (%v), want a's answer", got.code, got.body, got.err)
	}
	held = []<-chan answer{hold(t, h, arrived), hold(t, h, arrived), hold(t, h, arrived)}
	refused("3 in flight on the new member")
	a.letGo()
	for _, c := range held {
		if got := <-c; got.err != nil || got.body != "a" {
			t.Fatalf("held request on the new member: %d %q (%v)", got.code, got.body, got.err)
		}
	}
}

// TestMembershipCloseWaitsForAFiredSweep: a sweep timer that fires while
// the route's discovery closes has its callback waiting on the
// membership's lock behind close; close returns only once that callback
// has run and returned, so no goroutine of the membership outlives it.
func TestMembershipCloseWaitsForAFiredSweep(t *testing.T) {
	a, b, arrived := twoBackends(t)
	h, d, feed := discoveredHandler(t)
	feed(a.found(1))
	held := hold(t, h, arrived)
	feed(b.found(1)) // a drains with a request in flight: swept every 5ms
	defer func() { a.letGo(); <-held }()

	stacks := func() string {
		buf := make([]byte, 1<<20)
		return string(buf[:runtime.Stack(buf, true)])
	}
	waitFor := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stacks(), what); {
			if time.Now().After(deadline) {
				t.Fatalf("no goroutine in %s after 5s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	d.mu.Lock()
	locked := true
	defer func() {
		if locked {
			d.mu.Unlock()
		}
	}()
	closed := make(chan struct{})
	go func() { d.close(); close(closed) }()
	waitFor(").close(") // first in line for the lock
	waitFor(").fired(") // the timer fired: its callback waits behind close
	locked = false
	d.mu.Unlock()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not return")
	}
	if s := stacks(); strings.Contains(s, ").timedSweep(") {
		t.Fatalf("close returned while a sweep timer's callback still runs:\n%s", s)
	}
}
