package smartproxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/balancer"
	"github.com/caddy-smartproxy/smartproxy/config"
)

// cappedPool is a pool of len(caps) backends, backend i capped at caps[i]
// (0: none), as route id with queue q; the holds are released at Cleanup.
func cappedPool(t testing.TB, id string, caps []int, q *config.Queue) (*pool, *routeCaps) {
	t.Helper()
	s := config.Section{LoadBalancer: &config.LoadBalancer{Queue: q}}
	bs := make([]*backend.Backend, len(caps))
	for i, n := range caps {
		b, err := backend.New("http://127.0.0.1:"+string(rune('1'+i))+"000", 1)
		if err != nil {
			t.Fatal(err)
		}
		bs[i] = b
		s.Backends = append(s.Backends, config.Backend{URL: b.Name, MaxRequests: n})
	}
	hs := new(holds)
	t.Cleanup(hs.releaseAll)
	ms := members(bs)
	rc, err := newRouteCaps(hs, id, s)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if err := rc.attach(hs, id, m, caps[i]); err != nil {
			t.Fatal(err)
		}
	}
	bal, _ := balancer.New(balancer.Config{})
	return newPool(ms, bal, 0), rc
}

func TestPickSkipsBackendsAtCap(t *testing.T) {
	p, _ := cappedPool(t, "caps|pick", []int{1, 2, 0}, nil)
	r := httptest.NewRequest("GET", "/", nil)
	got := map[string]int{}
	for range 3 {
		b := p.pick(r, nil)
		if b == nil {
			t.Fatal("a backend below its cap was skipped")
		}
		got[b.Name]++
	}
	// Round robin: a, b, c. Now a is at its cap (1); b has one slot left.
	for range 6 {
		b := p.pick(r, nil)
		if b == nil {
			t.Fatal("nil pick with an uncapped backend")
		}
		got[b.Name]++
	}
	bs := p.snap.Load().available
	if got[bs[0].Name] != 1 || got[bs[1].Name] != 2 {
		t.Fatalf("picks %v: backends over their caps 1 and 2", got)
	}
	p.member(bs[0]).gate.give()
	if b := p.pick(r, []*backend.Backend{bs[2]}); b != bs[0] {
		t.Fatalf("the freed slot went to %v, want %s", b, bs[0].Name)
	}
	if b := p.pick(r, []*backend.Backend{bs[2]}); b != nil {
		t.Fatalf("every untried backend at its cap, yet pick gave %s", b.Name)
	}
}

// TestCapNeverExceeded: many goroutines take and give slots of one
// backend through the queue; the count never goes over the cap and every
// waiter gets a slot.
func TestCapNeverExceeded(t *testing.T) {
	const capN, workers, rounds = 3, 40, 50
	p, rc := cappedPool(t, "caps|stress", []int{capN}, &config.Queue{Size: workers, Timeout: caddy.Duration(time.Minute)})
	b := p.snap.Load().available[0]
	g := p.member(b).gate
	var peak, now atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/", nil)
			for range rounds {
				got := p.pick(r, nil)
				if got == nil {
					var err error
					if got, err = rc.await(w, r, p, nil); err != nil || got == nil {
						t.Errorf("await: %v %v", got, err)
						return
					}
				}
				n := now.Add(1)
				for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
				}
				for range 20 { // hold the slot while others run
					if c := g.inFlight(); c > capN {
						t.Errorf("count %d over the cap", c)
					}
					runtime.Gosched()
				}
				now.Add(-1)
				g.give()
			}
		}()
	}
	wg.Wait()
	if peak.Load() > capN || peak.Load() == 0 {
		t.Fatalf("peak %d, cap %d", peak.Load(), capN)
	}
	if g.inFlight() != 0 || rc.queue.waiting.Load() != 0 {
		t.Fatalf("left: %d in flight, %d waiting", g.inFlight(), rc.queue.waiting.Load())
	}
	if rc.queue.queued.Load() == 0 {
		t.Fatal("nothing ever queued: the test did not test the queue")
	}
}

func TestQueueRefusesAndTimesOut(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	status := func(err error) int {
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) {
			t.Fatalf("error %v is no caddyhttp.HandlerError", err)
		}
		return he.StatusCode
	}
	t.Run("no queue", func(t *testing.T) {
		p, rc := cappedPool(t, "caps|noqueue", []int{1}, nil)
		p.pick(r, nil)
		w := httptest.NewRecorder()
		_, err := rc.await(w, r, p, nil)
		if status(err) != http.StatusServiceUnavailable || !errors.Is(err, errAtCap) || w.Header().Get("Retry-After") != "1" {
			t.Fatalf("err %v, Retry-After %q", err, w.Header().Get("Retry-After"))
		}
	})
	t.Run("queue full", func(t *testing.T) {
		p, rc := cappedPool(t, "caps|full", []int{1}, &config.Queue{Size: 1, Timeout: caddy.Duration(3 * time.Second)})
		p.pick(r, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := rc.await(httptest.NewRecorder(), r.WithContext(ctx), p, nil)
			done <- err
		}()
		for rc.queue.waiting.Load() == 0 {
			time.Sleep(time.Millisecond) // until the first waiter is in (no clock can say so)
		}
		w := httptest.NewRecorder()
		_, err := rc.await(w, r, p, nil)
		if status(err) != http.StatusServiceUnavailable || !errors.Is(err, errQueueFull) || w.Header().Get("Retry-After") != "3" {
			t.Fatalf("err %v, Retry-After %q", err, w.Header().Get("Retry-After"))
		}
		// The client that waits goes away: its place is free.
		cancel()
		if err := <-done; status(err) != statusClientClosed {
			t.Fatalf("canceled waiter: %v", err)
		}
		if rc.queue.waiting.Load() != 0 || rc.queue.canceled.Load() != 1 {
			t.Fatalf("waiting %d, canceled %d", rc.queue.waiting.Load(), rc.queue.canceled.Load())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		p, rc := cappedPool(t, "caps|timeout", []int{1}, &config.Queue{Timeout: caddy.Duration(time.Millisecond)})
		p.pick(r, nil)
		_, err := rc.await(httptest.NewRecorder(), r, p, nil)
		if status(err) != http.StatusServiceUnavailable || !errors.Is(err, errQueueTimeout) || rc.queue.timedOut.Load() != 1 {
			t.Fatalf("err %v, timed out %d", err, rc.queue.timedOut.Load())
		}
	})
	t.Run("nothing capped to wait for", func(t *testing.T) {
		p, rc := cappedPool(t, "caps|tried", []int{1}, &config.Queue{})
		b := p.pick(r, nil)
		if got, err := rc.await(httptest.NewRecorder(), r, p, []*backend.Backend{b}); got != nil || err != nil {
			t.Fatalf("await over tried backends: %v %v", got, err)
		}
	})
}

// TestHandoffIsFIFO: a freed slot goes to the request that waited longest,
// and a newcomer cannot take it.
func TestHandoffIsFIFO(t *testing.T) {
	p, rc := cappedPool(t, "caps|fifo", []int{1}, &config.Queue{Timeout: caddy.Duration(time.Minute)})
	r := httptest.NewRequest("GET", "/", nil)
	b := p.pick(r, nil)
	order := make(chan int, 3)
	for i := range 3 {
		go func() {
			if got, err := rc.await(httptest.NewRecorder(), r, p, nil); err == nil && got == b {
				order <- i
			}
		}()
		for rc.queue.waiting.Load() != int64(i+1) {
			time.Sleep(time.Millisecond) // until waiter i is in line
		}
	}
	g := p.member(b).gate
	for want := range 3 {
		g.give()
		if p.pick(r, nil) != nil {
			t.Fatal("a newcomer took a slot handed to the queue")
		}
		if got := <-order; got != want {
			t.Fatalf("waiter %d served before waiter %d", got, want)
		}
	}
	g.give()
	if g.inFlight() != 0 {
		t.Fatalf("in flight %d", g.inFlight())
	}
}

// TestCountSharedAcrossConfigs: two configs of one route (a reload) count
// a backend's requests together.
func TestCountSharedAcrossConfigs(t *testing.T) {
	old, _ := cappedPool(t, "caps|reload", []int{2}, nil)
	cur, _ := cappedPool(t, "caps|reload", []int{2}, nil)
	r := httptest.NewRequest("GET", "/", nil)
	if old.pick(r, nil) == nil || cur.pick(r, nil) == nil {
		t.Fatal("below the cap, a pick failed")
	}
	if b := cur.pick(r, nil); b != nil {
		t.Fatal("the two configs together went over the cap")
	}
}
