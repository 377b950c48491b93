package redistier

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/cache"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// waitFor polls cond every 5 ms until it holds, failing after within.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// instance is one proxy instance's cache on the shared Redis.
type instance struct {
	client *Client
	tier   *Tier
	cache  *cache.Cache
}

func newInstance(t *testing.T, r *redistest.Server, scope string, s Settings) *instance {
	t.Helper()
	s.Addresses = []string{r.Addr}
	c, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return instanceOn(t, c, scope)
}

// instanceOn is an instance whose cache is on c's Tier for scope.
func instanceOn(t *testing.T, c *Client, scope string) *instance {
	t.Helper()
	tr := c.Tier(scope)
	t.Cleanup(func() { tr.Close() })
	cc, err := cache.New(cache.Settings{Tier: tr})
	if err != nil {
		t.Fatal(err)
	}
	return &instance{client: c, tier: tr, cache: cc}
}

// backend counts requests and answers each with a cacheable response.
type backend struct {
	calls atomic.Int32
	kv    []string
}

func (b *backend) fetch(w http.ResponseWriter, r *http.Request) error {
	b.calls.Add(1)
	w.Header().Set("Cache-Control", "max-age=60")
	for i := 0; i+1 < len(b.kv); i += 2 {
		w.Header().Add(b.kv[i], b.kv[i+1])
	}
	_, _ = w.Write([]byte("body of " + r.URL.Path))
	return nil
}

func get(t *testing.T, in *instance, b *backend, url string) (cache.Status, string) {
	t.Helper()
	w := httptest.NewRecorder()
	st, err := in.cache.Serve(w, httptest.NewRequest("GET", url, nil), b.fetch)
	if err != nil {
		t.Fatal(err)
	}
	return st, w.Body.String()
}

func TestSharedThroughRedisAndScoped(t *testing.T) {
	r := redistest.Start(t)
	a1 := newInstance(t, r, "srv0|a.example|default", Settings{})
	a2 := newInstance(t, r, "srv0|a.example|default", Settings{})
	other := newInstance(t, r, "srv0|b.example|default", Settings{})
	b := &backend{}
	if st, _ := get(t, a1, b, "http://a.example/x"); st != cache.StatusMiss {
		t.Fatalf("first: %v", st)
	}
	if st, body := get(t, a2, b, "http://a.example/x"); st != cache.StatusSharedHit || body != "body of /x" {
		t.Fatalf("second instance: %v %q, want a shared hit", st, body)
	}
	// Another site on the same Redis asks for the very same key: a miss.
	if st, _ := get(t, other, b, "http://a.example/x"); st != cache.StatusMiss {
		t.Fatalf("another scope read the entry: %v", st)
	}
	if b.calls.Load() != 2 {
		t.Fatalf("%d backend calls, want 2", b.calls.Load())
	}
}

func TestPurgesReachRedisAndEveryInstance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		purge func(c *cache.Cache)
	}{
		{"key", func(c *cache.Cache) { c.Purge("GET http://a.example/p/1") }},
		{"prefix", func(c *cache.Cache) { c.PurgePrefix("GET http://a.example/p/") }},
		{"tags", func(c *cache.Cache) { c.PurgeTags("t1") }},
		{"all", func(c *cache.Cache) { c.PurgeAll() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := redistest.Start(t)
			ins := []*instance{newInstance(t, r, "s", Settings{}), newInstance(t, r, "s", Settings{}), newInstance(t, r, "s", Settings{})}
			b := &backend{kv: []string{"Surrogate-Key", "t1"}}
			for _, in := range ins {
				get(t, in, b, "http://a.example/p/1")
			}
			if b.calls.Load() != 1 {
				t.Fatalf("%d backend calls to fill three instances, want 1", b.calls.Load())
			}
			// Let the subscriptions settle before purging.
			waitFor(t, 5*time.Second, "three subscribers", func() bool {
				n, _ := r.Admin.PubSubNumSub(context.Background(), DefaultKeyPrefix+"purge").Result()
				return n[DefaultKeyPrefix+"purge"] == 3
			})
			tc.purge(ins[0].cache)
			if n, _ := r.Admin.Exists(context.Background(), ins[0].tier.entryKey(hashOf("GET http://a.example/p/1"))).Result(); n != 0 {
				t.Fatal("the entry is still in Redis")
			}
			for i, in := range ins[1:] {
				waitFor(t, 2*time.Second, "the purge reaches instance "+string(rune('2'+i)), func() bool {
					return in.cache.Stats().Entries == 0
				})
			}
			for _, in := range ins {
				get(t, in, b, "http://a.example/p/1")
			}
			if b.calls.Load() != 2 {
				t.Fatalf("%d backend calls after the purge, want 2", b.calls.Load())
			}
		})
	}
}

func TestFleetCoalescing(t *testing.T) {
	r := redistest.Start(t)
	ins := []*instance{newInstance(t, r, "s", Settings{}), newInstance(t, r, "s", Settings{}), newInstance(t, r, "s", Settings{})}
	var calls atomic.Int32
	slow := func(w http.ResponseWriter, r *http.Request) error {
		calls.Add(1)
		time.Sleep(100 * time.Millisecond) // a backend that takes its time
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("one"))
		return nil
	}
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := httptest.NewRecorder()
			if _, err := ins[i%3].cache.Serve(w, httptest.NewRequest("GET", "http://a.example/cold", nil), slow); err != nil || w.Body.String() != "one" {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 || calls.Load() > 2 {
		t.Fatalf("%d bad answers, %d backend calls; want 0 and at most 2", bad.Load(), calls.Load())
	}
}

func TestRedisDownAndBack(t *testing.T) {
	r := redistest.Start(t)
	var mu sync.Mutex
	var changes []bool
	s := Settings{ProbeInterval: 20 * time.Millisecond, Timeout: 50 * time.Millisecond, OnStateChange: func(down bool, _ error) {
		mu.Lock()
		changes = append(changes, down)
		mu.Unlock()
	}}
	a := newInstance(t, r, "s", s)
	b2 := newInstance(t, r, "s", Settings{})
	b := &backend{}
	get(t, a, b, "http://a.example/1")
	r.Kill()
	for i := range 20 {
		begin := time.Now()
		st, body := get(t, a, b, "http://a.example/down/"+string(rune('a'+i)))
		if st != cache.StatusMiss || !strings.HasPrefix(body, "body of") {
			t.Fatalf("with Redis down: %v %q", st, body)
		}
		if d := time.Since(begin); d > time.Second {
			t.Fatalf("a request waited %v on a dead Redis (timeout 50ms)", d)
		}
	}
	if st, _ := get(t, a, b, "http://a.example/1"); st != cache.StatusHit {
		t.Fatalf("memory with Redis down: %v", st)
	}
	if !a.client.Down() {
		t.Fatal("not down")
	}
	r.Restart()
	waitFor(t, 5*time.Second, "up again", func() bool { return !a.client.Down() })
	get(t, a, b, "http://a.example/after")
	if st, _ := get(t, b2, b, "http://a.example/after"); st != cache.StatusSharedHit {
		t.Fatalf("after Redis came back: %v, want sharing again", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 2 || !changes[0] || changes[1] {
		t.Fatalf("state changes %v, want [down up]", changes)
	}
}

// A value in Redis larger than max_entry_bytes is a miss, and one larger
// than the reply guard's budget fails the connection before go-redis reads
// it.
func TestOversizedRecordRefused(t *testing.T) {
	r := redistest.Start(t)
	a := newInstance(t, r, "s", Settings{MaxEntryBytes: 1 << 10})
	ctx := context.Background()
	for _, tc := range []struct {
		path  string
		size  int
		guard bool
	}{{"/big", 64 << 10, false}, {"/huge", 2 << 20, true}} {
		key := "GET http://a.example" + tc.path
		r.Admin.HSet(ctx, a.tier.entryKey(hashOf(key)), "", strings.Repeat("x", tc.size))
		rec, err := a.tier.Get(ctx, key, "")
		if err == nil || rec != nil || strings.Contains(err.Error(), "protocol guard") != tc.guard {
			t.Fatalf("%s: a %d-byte value under max_entry_bytes 1 KiB: %d bytes, %v", tc.path, tc.size, len(rec), err)
		}
		waitFor(t, 3*time.Second, "up again", func() bool { return !a.client.Down() })
		b := &backend{}
		if st, _ := get(t, a, b, "http://a.example"+tc.path); st != cache.StatusMiss {
			t.Fatalf("%s: %v", tc.path, st)
		}
	}
}

// The indexes do not outgrow the live entries: expired members are
// dropped as new entries are stored.
func TestIndexTrimmed(t *testing.T) {
	r := redistest.Start(t)
	a := newInstance(t, r, "s", Settings{})
	ctx := context.Background()
	for i := range 40 {
		k := "GET http://a.example/short/" + string(rune('A'+i))
		if err := a.tier.Put(ctx, k, []cache.TierRecord{{Data: []byte("x")}}, 10*time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond) // Redis's own clock decides expiry
	for i := range 5 {
		k := "GET http://a.example/long/" + string(rune('A'+i))
		if err := a.tier.Put(ctx, k, []cache.TierRecord{{Data: []byte("x")}}, time.Minute, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := r.Admin.ZCard(ctx, a.tier.base+"ix").Result(); n != 5 {
		t.Fatalf("index holds %d members, want the 5 live ones", n)
	}
}

// Close returns at once, whether the purge subscription is still being
// set up, blocked reading, or has no Redis to reach, and leaves no
// goroutine behind (go test -race would report none, the wait group says
// so here).
func TestCloseAtOnce(t *testing.T) {
	r := redistest.Start(t)
	dead := freePort(t)
	for _, addr := range []string{r.Addr, dead} {
		for i := range 4 {
			c, err := New(Settings{Addresses: []string{addr}})
			if err != nil {
				t.Fatal(err)
			}
			if i%2 == 1 {
				time.Sleep(300 * time.Millisecond) // subscribed and reading
			}
			done := make(chan error, 1)
			go func() { done <- c.Close() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(3 * time.Second):
				t.Fatalf("Close on %s (%d) did not return", addr, i)
			}
		}
	}
}

// freePort is a loopback address nothing listens on.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A purge made while Redis is down is kept and replayed once it is back,
// so the other instances' memories drop what it names after all.
func TestPurgeWhileDownIsReplayed(t *testing.T) {
	r := redistest.Start(t)
	s := Settings{ProbeInterval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond}
	a, b := newInstance(t, r, "s", s), newInstance(t, r, "s", s)
	be := &backend{}
	get(t, a, be, "http://a.example/p")
	get(t, b, be, "http://a.example/p")
	get(t, b, be, "http://a.example/q")
	waitFor(t, 5*time.Second, "two subscribers", func() bool {
		n, _ := r.Admin.PubSubNumSub(context.Background(), DefaultKeyPrefix+"purge").Result()
		return n[DefaultKeyPrefix+"purge"] == 2
	})
	r.Kill()
	a.cache.Purge("GET http://a.example/p") // the call that finds Redis dead
	a.cache.Purge("GET http://a.example/p") // made while known down
	if n := a.client.Pending(); n != 2 {
		t.Fatalf("%d purges kept, want 2", n)
	}
	if b.cache.Stats().Entries != 2 {
		t.Fatal("a purge reached instance 2 with Redis down")
	}
	r.Restart()
	waitFor(t, 5*time.Second, "the kept purge reaches instance 2", func() bool { return b.cache.Stats().Entries == 1 })
	if n := a.client.Pending(); n != 0 {
		t.Fatalf("%d purges still kept after the replay", n)
	}
}

func TestPendingPurgesCollapse(t *testing.T) {
	c := &Client{}
	t1, t2 := &Tier{c: c}, &Tier{c: c}
	for i := range maxPending {
		c.keep([]*Tier{t1, t2}[i%2], cache.TierPurge{Kind: cache.PurgeKey, Arg: "k"})
	}
	c.keep(t1, cache.TierPurge{Kind: cache.PurgeKey, Arg: "one more"})
	if len(c.pending) != 2 || c.pending[0].p.Kind != cache.PurgeAll || c.pending[1].p.Kind != cache.PurgeAll || c.pending[0].t == c.pending[1].t {
		t.Fatalf("pending after overflow: %+v, want one PurgeAll per tier", c.pending)
	}
}
