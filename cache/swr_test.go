package cache

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// swrOrigin answers max-age=10 with an ETag and extra fields, a 304 to a
// revalidation. With arrived set, each revalidation sends its path there
// on reaching the origin (so size it for all of them); with gate set, it
// then holds until gate closes or the request's context ends (counted in
// cancelled).
type swrOrigin struct {
	calls, revalidations, cancelled atomic.Int32
	kv                              []string
	arrived                         chan string
	gate                            chan struct{}
}

func (o *swrOrigin) fetch(w http.ResponseWriter, r *http.Request) error {
	o.calls.Add(1)
	if r.Header.Get("If-None-Match") != "" {
		o.revalidations.Add(1)
		if o.arrived != nil {
			o.arrived <- r.URL.Path
		}
		if o.gate != nil {
			select {
			case <-o.gate:
			case <-r.Context().Done():
				o.cancelled.Add(1)
				return r.Context().Err()
			}
		}
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	respond(200, "v1", append([]string{"Cache-Control", "max-age=10", "ETag", `"1"`}, o.kv...)...)(w, r)
	return nil
}

// receive returns the next value from ch, or fails the test after a bound
// that is only there to fail instead of hanging.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("still waiting for %s", what)
		panic("unreachable")
	}
}

// running returns the keys being revalidated in the background.
func (c *Cache) running() int {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	return len(c.bgKeys)
}

func serveBG(t *testing.T, c *Cache, bg context.Context, fetch FetchFunc, kv ...string) (*httptest.ResponseRecorder, Status) {
	t.Helper()
	return serveWith(t, c, Background{Context: bg}, fetch, kv...)
}

func serveWith(t *testing.T, c *Cache, bg Background, fetch FetchFunc, kv ...string) (*httptest.ResponseRecorder, Status) {
	t.Helper()
	r := httptest.NewRequest("GET", "http://example.com/swr", nil)
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	w := httptest.NewRecorder()
	st, err := c.ServeBackground(w, r, fetch, bg)
	if err != nil {
		t.Fatal(err)
	}
	return w, st
}

// TestStaleWhileRevalidate_RFC5861_3: within the window a stale response
// is served at once and one background request refreshes it; outside it,
// or for responses and requests that rule it out, the request is
// forwarded as before.
func TestStaleWhileRevalidate_RFC5861_3(t *testing.T) {
	tests := []struct {
		name  string
		s     Settings
		kv    []string // response fields
		req   []string // request fields
		after time.Duration
		swr   bool
	}{
		{"within the window", Settings{}, []string{"Cache-Control", "stale-while-revalidate=30"}, nil, 20 * time.Second, true},
		{"past the window", Settings{}, []string{"Cache-Control", "stale-while-revalidate=30"}, nil, 41 * time.Second, false},
		{"default window", Settings{StaleWhileRevalidate: time.Minute}, nil, nil, 60 * time.Second, true},
		{"no window", Settings{}, nil, nil, 20 * time.Second, false},
		{"targeted field's window", Settings{}, []string{"CDN-Cache-Control", "max-age=10, stale-while-revalidate=30"}, nil, 20 * time.Second, true},
		{"must-revalidate", Settings{}, []string{"Cache-Control", "stale-while-revalidate=30, must-revalidate"}, nil, 20 * time.Second, false},
		{"request no-cache", Settings{}, []string{"Cache-Control", "stale-while-revalidate=30"}, []string{"Cache-Control", "no-cache"}, 20 * time.Second, false},
		{"request max-age", Settings{}, []string{"Cache-Control", "stale-while-revalidate=30"}, []string{"Cache-Control", "max-age=5"}, 20 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, tt.s)
			o := &swrOrigin{kv: tt.kv}
			serveBG(t, c, context.Background(), o.fetch)
			clk.Advance(tt.after)
			w, st := serveBG(t, c, context.Background(), o.fetch, tt.req...)
			c.bgWG.Wait()
			if got := st == StatusStaleWhileRevalidate; got != tt.swr {
				t.Fatalf("%v, want stale-while-revalidate %v", st, tt.swr)
			}
			if !tt.swr {
				return
			}
			if w.Body.String() != "v1" || cacheStatusOf(w) != "smartproxy; hit; fwd=stale; detail=stale-while-revalidate" {
				t.Errorf("served %q with Cache-Status %q", w.Body, cacheStatusOf(w))
			}
			if o.revalidations.Load() != 1 {
				t.Errorf("%d revalidations, want 1 in the background", o.revalidations.Load())
			}
			if _, st := serveBG(t, c, context.Background(), o.fetch); st != StatusHit {
				t.Errorf("after the background refresh: %v, want a hit", st)
			}
		})
	}
}

// TestStaleWhileRevalidateOnePerKey: concurrent requests in the window
// are all answered stale while one background request runs, and a miss
// that must not take the stale response waits on that same fetch.
//
// The miss is sent only once the background request has reached the
// origin, and so leads the key's flight: sent earlier, the miss could
// lead and the background request wait on it (still one fetch, but not
// the order this test checks).
func TestStaleWhileRevalidateOnePerKey(t *testing.T) {
	c, clk := newTestCache(t, Settings{CoalesceTimeout: time.Minute})
	o := &swrOrigin{kv: []string{"Cache-Control", "stale-while-revalidate=60"},
		arrived: make(chan string, 8), gate: make(chan struct{})}
	serveBG(t, c, context.Background(), o.fetch)
	clk.Advance(30 * time.Second)
	var detached atomic.Int32 // background requests made
	bg := Background{Context: context.Background(), Detach: func(ctx context.Context, r *http.Request) *http.Request {
		detached.Add(1)
		return r.Clone(ctx)
	}}
	for range 5 {
		if _, st := serveWith(t, c, bg, o.fetch); st != StatusStaleWhileRevalidate {
			t.Fatalf("%v, want stale-while-revalidate", st)
		}
	}
	if n := detached.Load(); n != 1 {
		t.Fatalf("%d background revalidations, want 1 for the key", n)
	}
	receive(t, o.arrived, "the background revalidation at the origin")
	var wg sync.WaitGroup
	var coalesced Status
	var missErr error
	wg.Go(func() {
		r := httptest.NewRequest("GET", "http://example.com/swr", nil)
		r.Header.Set("Cache-Control", "max-age=1")
		coalesced, missErr = c.ServeBackground(httptest.NewRecorder(), r, o.fetch, bg)
	})
	waitFor(t, "the miss to wait on the revalidation", func() bool { return c.Stats().Coalesced == 1 })
	close(o.gate)
	within(t, 10*time.Second, "the waiting miss", &wg)
	within(t, 10*time.Second, "the background revalidation", &c.bgWG)
	if o.calls.Load() != 2 || o.revalidations.Load() != 1 || coalesced != StatusCoalesced || missErr != nil || c.Stats().Coalesced != 1 {
		t.Errorf("origin calls %d, revalidations %d (want the first and one revalidation), waiting miss %v (%v), %d waiters",
			o.calls.Load(), o.revalidations.Load(), coalesced, missErr, c.Stats().Coalesced)
	}
}

// TestStaleWhileRevalidateBounded: at most maxBackground revalidations
// run; past that, a request in its window is forwarded itself. Cancelling
// the background context ends them all, and a done context starts none.
func TestStaleWhileRevalidateBounded(t *testing.T) {
	c, clk := newTestCache(t, Settings{StaleWhileRevalidate: time.Minute})
	// Revalidations hold until the gate closes or they are cancelled.
	o := &swrOrigin{arrived: make(chan string, 2*maxBackground+2), gate: make(chan struct{})}
	get := func(i int, bg context.Context) (Status, error) {
		r := httptest.NewRequest("GET", fmt.Sprintf("http://example.com/k%d", i), nil)
		return c.ServeBackground(httptest.NewRecorder(), r, o.fetch, Background{Context: bg})
	}
	for i := range maxBackground + 1 {
		if _, err := get(i, context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(30 * time.Second)
	bg, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range maxBackground {
		if st, err := get(i, bg); st != StatusStaleWhileRevalidate || err != nil {
			t.Fatalf("key %d: %v, %v", i, st, err)
		}
	}
	type result struct {
		st  Status
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := get(maxBackground, bg)
		done <- result{st, err}
	}()
	// All maxBackground background requests and the foreground one reach
	// the origin, each for its own key.
	seen := make(map[string]bool)
	for range maxBackground + 1 {
		seen[receive(t, o.arrived, "revalidations at the origin")] = true
	}
	if len(seen) != maxBackground+1 {
		t.Fatalf("revalidated %v, want each of %d keys once", seen, maxBackground+1)
	}
	cancel()
	within(t, 10*time.Second, "background revalidations after cancel", &c.bgWG)
	if n := o.cancelled.Load(); n != maxBackground {
		t.Errorf("%d revalidations ended by the cancel, want the %d in the background", n, maxBackground)
	}
	close(o.gate) // lets the foreground one finish
	if res := receive(t, done, "the foreground request"); res.st != StatusRevalidated || res.err != nil {
		t.Errorf("request %d past the bound: %v, %v; want revalidated in the foreground", maxBackground, res.st, res.err)
	}
	// A done context starts nothing.
	if st, err := get(0, bg); st != StatusRevalidated || err != nil {
		t.Errorf("with a cancelled background context: %v, %v; want revalidated in the foreground", st, err)
	}
	if n := c.running(); n != 0 {
		t.Errorf("%d background revalidations left running", n)
	}
}

// TestStaleWhileRevalidateDetachPanics: a Detach that panics (or returns
// nil) propagates to the caller, and leaves the key free: the next request
// in the window starts a revalidation that runs, instead of finding one
// marked running that never will.
func TestStaleWhileRevalidateDetachPanics(t *testing.T) {
	for _, name := range []string{"panic", "nil request"} {
		t.Run(name, func(t *testing.T) {
			c, clk := newTestCache(t, Settings{StaleWhileRevalidate: time.Minute})
			o := &swrOrigin{}
			serveBG(t, c, context.Background(), o.fetch)
			clk.Advance(30 * time.Second)
			bad := func(context.Context, *http.Request) *http.Request {
				if name == "panic" {
					panic("detach")
				}
				return nil
			}
			func() {
				defer func() {
					if recover() == nil {
						t.Error("ServeBackground returned, want Detach's panic")
					}
				}()
				r := httptest.NewRequest("GET", "http://example.com/swr", nil)
				_, _ = c.ServeBackground(httptest.NewRecorder(), r, o.fetch, Background{Context: context.Background(), Detach: bad})
			}()
			if n := c.running(); n != 0 {
				t.Fatalf("%d revalidations marked running after Detach failed", n)
			}
			within(t, 10*time.Second, "background revalidations", &c.bgWG)
			if _, st := serveBG(t, c, context.Background(), o.fetch); st != StatusStaleWhileRevalidate {
				t.Fatalf("%v, want stale-while-revalidate", st)
			}
			within(t, 10*time.Second, "background revalidations", &c.bgWG)
			if n := o.revalidations.Load(); n != 1 {
				t.Errorf("%d revalidations, want 1 after Detach's failure", n)
			}
		})
	}
}

// TestServeHasNoBackground: plain Serve never answers stale-while-
// revalidate; it forwards as before.
func TestServeHasNoBackground(t *testing.T) {
	c, clk := newTestCache(t, Settings{StaleWhileRevalidate: time.Minute})
	o := &swrOrigin{}
	do(t, c, "GET", "http://example.com/swr", o.fetch)
	clk.Advance(20 * time.Second)
	if _, st := do(t, c, "GET", "http://example.com/swr", o.fetch); st != StatusRevalidated {
		t.Errorf("%v, want revalidated in the foreground", st)
	}
}

// requestFetcher is a Fetcher bound to one request's handling: it counts
// the fetches made through it.
type requestFetcher struct {
	o     *swrOrigin
	calls atomic.Int32
}

func (f *requestFetcher) Fetch(w http.ResponseWriter, r *http.Request) error {
	f.calls.Add(1)
	return f.o.fetch(w, r)
}

// TestServeFromRevalidatesThroughBackgroundFetcher: ServeFrom reaches the
// origin through the request's fetcher on a miss, but a background
// revalidation, which outlives the request, goes through bg.Fetcher.
func TestServeFromRevalidatesThroughBackgroundFetcher(t *testing.T) {
	c, clk := newTestCache(t, Settings{})
	o := &swrOrigin{kv: []string{"Cache-Control", "stale-while-revalidate=60"}}
	first := &requestFetcher{o: o}
	get := func(f Fetcher, bg Background) Status {
		st, err := c.ServeFrom(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com/swr", nil), f, bg)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := get(first, Background{Context: context.Background()}); st != StatusMiss || first.calls.Load() != 1 {
		t.Fatalf("first request %v through its fetcher %d times, want a miss through it once", st, first.calls.Load())
	}
	clk.Advance(30 * time.Second)
	second, background := &requestFetcher{o: o}, &requestFetcher{o: o}
	if st := get(second, Background{Context: context.Background(), Fetcher: background}); st != StatusStaleWhileRevalidate {
		t.Fatalf("%v, want stale-while-revalidate", st)
	}
	within(t, 10*time.Second, "the background revalidation", &c.bgWG)
	if second.calls.Load() != 0 || background.calls.Load() != 1 || o.revalidations.Load() != 1 {
		t.Errorf("request's fetcher called %d times, background's %d, revalidations %d: want 0, 1, 1",
			second.calls.Load(), background.calls.Load(), o.revalidations.Load())
	}
}
