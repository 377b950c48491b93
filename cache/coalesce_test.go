package cache

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond (yielding, not sleeping) for at most 10s of wall
// time; it reports a timeout with t.Errorf, as it runs off the test
// goroutine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("timed out waiting for %s", what)
			return
		}
		runtime.Gosched()
	}
}

// coldStampede sends n concurrent GETs for one cold key; the backend
// answers only once all n-1 followers are waiting.
func coldStampede(t *testing.T, c *Cache, n int, handler func(http.ResponseWriter, *http.Request)) (*origin, []Status, []*httptest.ResponseRecorder) {
	t.Helper()
	o := &origin{}
	o.handler = func(w http.ResponseWriter, r *http.Request) {
		if o.calls.Load() == 1 {
			waitFor(t, "followers", func() bool { return c.Stats().Coalesced == uint64(n-1) })
		}
		handler(w, r)
	}
	statuses := make([]Status, n)
	recs := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			recs[i] = httptest.NewRecorder()
			var err error
			statuses[i], err = c.Serve(recs[i], mustRequest("GET", "http://example.com/hot"), o.fetch)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	return o, statuses, recs
}

func TestCoalesceColdGets(t *testing.T) {
	const n = 100
	c, _ := newTestCache(t, Settings{})
	o, statuses, recs := coldStampede(t, c, n, respond(200, "shared", "Cache-Control", "max-age=60"))
	if got := o.calls.Load(); got != 1 {
		t.Fatalf("backend called %d times, want 1", got)
	}
	count := map[Status]int{}
	for i, st := range statuses {
		count[st]++
		if recs[i].Code != 200 || recs[i].Body.String() != "shared" {
			t.Fatalf("request %d: %d %q", i, recs[i].Code, recs[i].Body.String())
		}
	}
	if count[StatusMiss] != 1 || count[StatusCoalesced] != n-1 {
		t.Fatalf("statuses %v", count)
	}
	if cs := cacheStatusOf(recs[indexOf(statuses, StatusCoalesced)]); cs != "smartproxy; fwd=uri-miss; collapsed" {
		t.Fatalf("Cache-Status %q", cs)
	}
}

func indexOf(s []Status, v Status) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestCoalesceUncacheableLeader(t *testing.T) {
	const n = 10
	c, _ := newTestCache(t, Settings{})
	o, statuses, recs := coldStampede(t, c, n, respond(200, "private", "Cache-Control", "private"))
	if got := o.calls.Load(); got != n {
		t.Fatalf("backend called %d times, want %d (followers fetch alone)", got, n)
	}
	for i := range statuses {
		if statuses[i] != StatusMiss || recs[i].Body.String() != "private" {
			t.Fatalf("request %d: %s %q", i, statuses[i], recs[i].Body.String())
		}
	}
}

func TestCoalesceBounded(t *testing.T) {
	c, _ := newTestCache(t, Settings{CoalesceTimeout: time.Millisecond})
	release := make(chan struct{})
	leaderIn := make(chan struct{})
	slow := func(w http.ResponseWriter, _ *http.Request) error {
		close(leaderIn)
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("slow"))
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.Serve(httptest.NewRecorder(), mustRequest("GET", "http://example.com/slow"), slow)
	}()
	<-leaderIn

	// Timeout: the follower gives up waiting and fetches on its own.
	fast := &origin{handler: respond(200, "fast")}
	w := httptest.NewRecorder()
	st, err := c.Serve(w, mustRequest("GET", "http://example.com/slow"), fast.fetch)
	if err != nil || st != StatusMiss || w.Body.String() != "fast" || fast.calls.Load() != 1 {
		t.Fatalf("after timeout: %s %v %q", st, err, w.Body.String())
	}

	// Context: a follower whose client left returns its context's error.
	c2, _ := newTestCache(t, Settings{})
	c2.flights.join([]byte("GET http://example.com/slow")) // a leader that never finishes
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := mustRequest("GET", "http://example.com/slow").WithContext(ctx)
	if _, err := c2.Serve(httptest.NewRecorder(), r, fast.fetch); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled follower: %v", err)
	}
	close(release)
	<-done
}

func TestCoalesceLeaderPanicReleasesFollowers(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	func() {
		defer func() { _ = recover() }()
		_, _ = c.Serve(httptest.NewRecorder(), mustRequest("GET", "http://example.com/p"),
			func(http.ResponseWriter, *http.Request) error { panic("boom") })
	}()
	c.flights.mu.Lock()
	left := len(c.flights.m)
	c.flights.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d flights left after a panicking leader", left)
	}
}
