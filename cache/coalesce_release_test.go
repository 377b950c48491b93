package cache

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// within fails the test unless every function of fs returns within d.
// The bound is only there to fail instead of hanging: the tests order
// events with channels, not with time.
func within(t *testing.T, d time.Duration, what string, wg *sync.WaitGroup) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s: still waiting after %s", what, d)
	}
}

// heldLeader runs a leader request whose backend answers with the given
// header pairs as soon as start is closed, flushes them, and holds the
// body until release is closed. Followers' fetches answer at once with
// "own" and the same headers.
type heldLeader struct {
	start, release chan struct{}
	o              *origin
}

func newHeldLeader(t *testing.T, kv ...string) *heldLeader {
	hl := &heldLeader{start: make(chan struct{}), release: make(chan struct{}), o: &origin{}}
	var leaderOnce sync.Once
	hl.o.handler = func(w http.ResponseWriter, r *http.Request) {
		isLeader := false
		leaderOnce.Do(func() { isLeader = true })
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Add(kv[i], kv[i+1])
		}
		if !isLeader {
			_, _ = w.Write([]byte("own " + r.Header.Get("X-V")))
			return
		}
		<-hl.start
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-hl.release
		_, _ = w.Write([]byte("leader"))
	}
	return hl
}

// TestWaitersReleasedAtHeaders: waiters go to the backend themselves the
// moment the leader's headers show its response cannot answer them, while
// the leader's body is still on its way.
func TestWaitersReleasedAtHeaders(t *testing.T) {
	tests := []struct {
		name     string
		kv       []string
		leaderV  string
		waiterV  string
		maxEntry int64
	}{
		{"private", []string{"Cache-Control", "private, max-age=60"}, "", "", 0},
		{"no-store stream", []string{"Cache-Control", "no-store", "Content-Type", "text/event-stream"}, "", "", 0},
		{"too large by length", []string{"Cache-Control", "max-age=60", "Content-Length", "6"}, "", "", 4},
		{"another variant", []string{"Cache-Control", "max-age=60", "Vary", "X-V"}, "a", "b", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n = 5
			c, _ := newTestCache(t, Settings{CoalesceTimeout: time.Minute, MaxEntryBytes: tc.maxEntry})
			hl := newHeldLeader(t, tc.kv...)
			var leader sync.WaitGroup
			leaderRec := httptest.NewRecorder()
			leader.Go(func() {
				r := mustRequest("GET", "http://example.com/held")
				r.Header.Set("X-V", tc.leaderV)
				_, _ = c.Serve(leaderRec, r, hl.o.fetch)
			})
			waitFor(t, "leader fetch", func() bool { return hl.o.calls.Load() == 1 })
			var waiters sync.WaitGroup
			bodies := make([]string, n-1)
			for i := range n - 1 {
				waiters.Go(func() {
					r := mustRequest("GET", "http://example.com/held")
					r.Header.Set("X-V", tc.waiterV)
					w := httptest.NewRecorder()
					if _, err := c.Serve(w, r, hl.o.fetch); err != nil {
						t.Error(err)
					}
					bodies[i] = w.Body.String()
				})
			}
			waitFor(t, "waiters", func() bool { return c.Stats().Coalesced == n-1 })
			close(hl.start) // the leader's headers go out; its body is held
			within(t, 5*time.Second, "waiters behind a held body", &waiters)
			for i, b := range bodies {
				if b != "own "+tc.waiterV {
					t.Errorf("waiter %d got %q", i, b)
				}
			}
			close(hl.release)
			leader.Wait()
			if leaderRec.Body.String() != "leader" {
				t.Fatalf("leader got %q", leaderRec.Body.String())
			}
		})
	}
}

// blockingWriter is a client that does not read: Write blocks until
// unblock closes (or fails with err when set).
type blockingWriter struct {
	h       http.Header
	entered chan struct{}
	unblock chan struct{}
	once    sync.Once
	err     error
	mu      sync.Mutex
	body    bytes.Buffer
}

func newBlockingWriter() *blockingWriter {
	return &blockingWriter{h: make(http.Header), entered: make(chan struct{}), unblock: make(chan struct{})}
}

func (b *blockingWriter) Header() http.Header { return b.h }
func (b *blockingWriter) WriteHeader(int)     {}
func (b *blockingWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	if b.err != nil {
		return 0, b.err
	}
	<-b.unblock
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.body.Write(p)
}

// TestSlowLeaderClientHoldsNoWaiter: the fill goes at the backend's pace,
// so waiters are served from it while the leader's own client has not
// read a byte.
func TestSlowLeaderClientHoldsNoWaiter(t *testing.T) {
	const n = 5
	c, _ := newTestCache(t, Settings{CoalesceTimeout: time.Minute})
	start := make(chan struct{})
	o := &origin{}
	o.handler = func(w http.ResponseWriter, _ *http.Request) {
		<-start
		w.Header().Set("Cache-Control", "max-age=60")
		for range 4 {
			_, _ = w.Write([]byte("shared "))
		}
	}
	slow := newBlockingWriter()
	var leader sync.WaitGroup
	leader.Go(func() { _, _ = c.Serve(slow, mustRequest("GET", "http://example.com/slow"), o.fetch) })
	waitFor(t, "leader fetch", func() bool { return o.calls.Load() == 1 })
	var waiters sync.WaitGroup
	recs := make([]*httptest.ResponseRecorder, n-1)
	for i := range recs {
		waiters.Go(func() {
			recs[i] = httptest.NewRecorder()
			if st, err := c.Serve(recs[i], mustRequest("GET", "http://example.com/slow"), o.fetch); err != nil || st != StatusCoalesced {
				t.Errorf("waiter %d: %s %v", i, st, err)
			}
		})
	}
	waitFor(t, "waiters", func() bool { return c.Stats().Coalesced == n-1 })
	close(start)
	within(t, 5*time.Second, "waiters behind a client that does not read", &waiters)
	<-slow.entered // the leader's client is stuck in its first write
	for i, w := range recs {
		if w.Body.String() != strings.Repeat("shared ", 4) {
			t.Errorf("waiter %d got %q", i, w.Body.String())
		}
	}
	close(slow.unblock)
	leader.Wait()
	if got := slow.body.String(); got != strings.Repeat("shared ", 4) {
		t.Fatalf("leader got %q", got)
	}
	if o.calls.Load() != 1 {
		t.Fatalf("backend called %d times", o.calls.Load())
	}
}

// TestLeaderClientGoneFillStillStored: a leader whose client went away
// still fills the entry for the others.
func TestLeaderClientGoneFillStillStored(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		for range 8 {
			if _, err := w.Write([]byte("chunk ")); err != nil {
				return // as a proxy stops when its client is gone
			}
		}
	}}
	gone := newBlockingWriter()
	gone.err = errors.New("broken pipe")
	if _, err := c.Serve(gone, mustRequest("GET", "http://example.com/gone"), o.fetch); err != nil {
		t.Fatalf("leader: %v", err)
	}
	if w, st := do(t, c, "GET", "http://example.com/gone", o.fetch); st != StatusHit || w.Body.String() != strings.Repeat("chunk ", 8) {
		t.Fatalf("after: %s %q", st, w.Body.String())
	}
}

// TestSharedFillOutgrowsEntry: a body of unknown length that turns out
// larger than MaxEntryBytes releases the waiters and reaches the leader
// whole and in order.
func TestSharedFillOutgrowsEntry(t *testing.T) {
	const n = 4
	c, _ := newTestCache(t, Settings{MaxEntryBytes: 4096, CoalesceTimeout: time.Minute})
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	start := make(chan struct{})
	o := &origin{}
	o.handler = func(w http.ResponseWriter, _ *http.Request) {
		if o.calls.Load() == 1 {
			<-start
		}
		w.Header().Set("Cache-Control", "max-age=60")
		for p := body; len(p) > 0; p = p[1000:] {
			_, _ = w.Write(p[:min(len(p), 1000)])
			if len(p) <= 1000 {
				break
			}
		}
	}
	var all sync.WaitGroup
	recs := make([]*httptest.ResponseRecorder, n)
	serve := func(i int) {
		recs[i] = httptest.NewRecorder()
		if _, err := c.Serve(recs[i], mustRequest("GET", "http://example.com/big"), o.fetch); err != nil {
			t.Error(err)
		}
	}
	all.Go(func() { serve(0) })
	waitFor(t, "leader fetch", func() bool { return o.calls.Load() == 1 })
	for i := 1; i < n; i++ {
		all.Go(func() { serve(i) })
	}
	waitFor(t, "waiters", func() bool { return c.Stats().Coalesced == n-1 })
	close(start)
	within(t, 5*time.Second, "requests", &all)
	for i, w := range recs {
		if !bytes.Equal(w.Body.Bytes(), body) {
			t.Errorf("request %d got %d bytes, not the body", i, w.Body.Len())
		}
	}
	if st := c.Stats(); st.Entries != 0 || o.calls.Load() != n {
		t.Fatalf("stats %+v, backend calls %d", st, o.calls.Load())
	}
}

// TestRelayStoppedOnPanic: a fetch that panics mid-body (a proxy aborting
// a response cut short) releases the waiters and leaves no goroutine.
func TestRelayStoppedOnPanic(t *testing.T) {
	c, _ := newTestCache(t, Settings{CoalesceTimeout: time.Minute})
	before := runtime.NumGoroutine()
	start := make(chan struct{})
	o := &origin{}
	o.handler = func(w http.ResponseWriter, _ *http.Request) {
		if o.calls.Load() > 1 {
			w.Header().Set("Cache-Control", "max-age=60")
			_, _ = w.Write([]byte("own"))
			return
		}
		<-start
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("part"))
		panic(http.ErrAbortHandler)
	}
	var leader sync.WaitGroup
	leader.Go(func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v", v)
			}
		}()
		_, _ = c.Serve(httptest.NewRecorder(), mustRequest("GET", "http://example.com/p"), o.fetch)
	})
	waitFor(t, "leader fetch", func() bool { return o.calls.Load() == 1 })
	var waiter sync.WaitGroup
	w := httptest.NewRecorder()
	waiter.Go(func() { _, _ = c.Serve(w, mustRequest("GET", "http://example.com/p"), o.fetch) })
	waitFor(t, "waiter", func() bool { return c.Stats().Coalesced == 1 })
	close(start)
	within(t, 5*time.Second, "waiter of a panicking leader", &waiter)
	leader.Wait()
	if w.Body.String() != "own" {
		t.Fatalf("waiter got %q", w.Body.String())
	}
	// Goroutines that have just finished may take a moment to be gone.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d -> %d: the relay outlived its response", before, runtime.NumGoroutine())
		}
	}
}

// panicWriter is a client writer that panics on Write.
type panicWriter struct{ h http.Header }

func (p *panicWriter) Header() http.Header       { return p.h }
func (p *panicWriter) WriteHeader(int)           {}
func (p *panicWriter) Write([]byte) (int, error) { panic("writer bug") }

// TestRelayWriterPanicContained: a client writer that panics inside the
// relay goroutine counts as a failed write (no process crash), and the
// fill is still stored.
func TestRelayWriterPanicContained(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "body", "Cache-Control", "max-age=60")}
	if _, err := c.Serve(&panicWriter{h: make(http.Header)}, mustRequest("GET", "http://example.com/pw"), o.fetch); err != nil {
		t.Fatal(err)
	}
	if w, st := do(t, c, "GET", "http://example.com/pw", o.fetch); st != StatusHit || w.Body.String() != "body" {
		t.Fatalf("%s %q", st, w.Body.String())
	}
}
