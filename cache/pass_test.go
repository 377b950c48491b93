package cache

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestPassAfterUnshareable: once a key's response could not be shared,
// the next misses for it do not wait for a leader (even one whose headers
// are slow) until passMemory has passed or a response was stored.
func TestPassAfterUnshareable(t *testing.T) {
	c, clk := newTestCache(t, Settings{CoalesceTimeout: time.Minute})
	private := true
	var mu sync.Mutex
	hold := make(chan struct{})
	o := &origin{}
	o.handler = func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Hold") != "" {
			<-hold // headers come late
		}
		mu.Lock()
		cc := "max-age=60"
		if private {
			cc = "private"
		}
		mu.Unlock()
		w.Header().Set("Cache-Control", cc)
		_, _ = w.Write([]byte("b"))
	}
	do(t, c, "GET", "http://example.com/p", o.fetch) // private: remembered

	var leader sync.WaitGroup
	leader.Go(func() { do(t, c, "GET", "http://example.com/p", o.fetch, "X-Hold", "1") })
	waitFor(t, "held request", func() bool { return o.calls.Load() == 2 })
	var others sync.WaitGroup
	for range 3 {
		others.Go(func() { do(t, c, "GET", "http://example.com/p", o.fetch) })
	}
	within(t, 5*time.Second, "requests to a remembered private key", &others)
	if n := c.Stats().Coalesced; n != 0 {
		t.Fatalf("%d requests waited", n)
	}
	close(hold)
	leader.Wait()

	// Once passMemory is over, misses wait on a leader again.
	clk.Advance(passMemory)
	fl, leads := c.flights.join([]byte("GET http://example.com/p"))
	if fl == nil || !leads {
		t.Fatal("key still skipped after passMemory")
	}
	c.flights.finish(fl, nil)

	// A stored response makes the key worth coalescing at once.
	do(t, c, "GET", "http://example.com/p", o.fetch) // private again: remembered
	mu.Lock()
	private = false
	mu.Unlock()
	do(t, c, "GET", "http://example.com/p", o.fetch) // stored
	c.Purge("GET http://example.com/p")
	if fl, leads := c.flights.join([]byte("GET http://example.com/p")); fl == nil || !leads {
		t.Fatal("key still skipped after a response was stored")
	}
}
