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
// revalidation; with gate set it holds each revalidation until gate
// closes or the request's context ends.
type swrOrigin struct {
	calls, revalidations atomic.Int32
	kv                   []string
	gate                 chan struct{}
}

func (o *swrOrigin) fetch(w http.ResponseWriter, r *http.Request) error {
	o.calls.Add(1)
	if r.Header.Get("If-None-Match") != "" {
		o.revalidations.Add(1)
		if o.gate != nil {
			select {
			case <-o.gate:
			case <-r.Context().Done():
				return r.Context().Err()
			}
		}
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	respond(200, "v1", append([]string{"Cache-Control", "max-age=10", "ETag", `"1"`}, o.kv...)...)(w, r)
	return nil
}

func serveBG(t *testing.T, c *Cache, bg context.Context, fetch FetchFunc, kv ...string) (*httptest.ResponseRecorder, Status) {
	t.Helper()
	r := httptest.NewRequest("GET", "http://example.com/swr", nil)
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	w := httptest.NewRecorder()
	st, err := c.ServeBackground(w, r, fetch, Background{Context: bg})
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
func TestStaleWhileRevalidateOnePerKey(t *testing.T) {
	c, clk := newTestCache(t, Settings{})
	o := &swrOrigin{kv: []string{"Cache-Control", "stale-while-revalidate=60"}, gate: make(chan struct{})}
	serveBG(t, c, context.Background(), o.fetch)
	clk.Advance(30 * time.Second)
	for range 5 {
		if _, st := serveBG(t, c, context.Background(), o.fetch); st != StatusStaleWhileRevalidate {
			t.Fatalf("%v, want stale-while-revalidate", st)
		}
	}
	var wg sync.WaitGroup
	var coalesced Status
	wg.Go(func() { _, coalesced = serveBG(t, c, context.Background(), o.fetch, "Cache-Control", "max-age=1") })
	for c.Stats().Coalesced == 0 {
		time.Sleep(time.Millisecond) // bounded by the test timeout: the waiter registers at once
	}
	close(o.gate)
	wg.Wait()
	c.bgWG.Wait()
	if o.calls.Load() != 2 || coalesced != StatusCoalesced {
		t.Errorf("origin calls %d (want the first and one revalidation), waiting miss %v", o.calls.Load(), coalesced)
	}
}

// TestStaleWhileRevalidateBounded: at most maxBackground revalidations
// run; past that, a request in its window is forwarded itself. Cancelling
// the background context ends them all.
func TestStaleWhileRevalidateBounded(t *testing.T) {
	c, clk := newTestCache(t, Settings{StaleWhileRevalidate: time.Minute})
	o := &swrOrigin{gate: make(chan struct{})} // revalidations hang until cancelled
	get := func(i int, bg context.Context) Status {
		r := httptest.NewRequest("GET", fmt.Sprintf("http://example.com/k%d", i), nil)
		st, err := c.ServeBackground(httptest.NewRecorder(), r, o.fetch, Background{Context: bg})
		if err != nil && st != StatusNone {
			t.Fatal(err)
		}
		return st
	}
	for i := range maxBackground + 1 {
		get(i, context.Background())
	}
	clk.Advance(30 * time.Second)
	bg, cancel := context.WithCancel(context.Background())
	for i := range maxBackground {
		if st := get(i, bg); st != StatusStaleWhileRevalidate {
			t.Fatalf("key %d: %v", i, st)
		}
	}
	done := make(chan Status)
	go func() { done <- get(maxBackground, bg) }()
	for o.revalidations.Load() < maxBackground+1 {
		time.Sleep(time.Millisecond) // the foreground revalidation reaches the origin
	}
	cancel()
	c.bgWG.Wait() // every background request ended with its context
	close(o.gate) // lets the foreground one finish
	if st := <-done; st == StatusStaleWhileRevalidate {
		t.Errorf("request %d past the bound was served stale", maxBackground)
	}
	// A done context starts nothing.
	if st := get(0, bg); st == StatusStaleWhileRevalidate {
		t.Errorf("a cancelled background context still served stale-while-revalidate")
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
