package breaker

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock seam that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder keeps the transitions OnStateChange was told of.
type recorder struct {
	mu  sync.Mutex
	got []transition
}

func (r *recorder) hook(from, to State, reason string) {
	r.mu.Lock()
	r.got = append(r.got, transition{from: from, to: to, reason: reason})
	r.mu.Unlock()
}

func (r *recorder) all() []transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transition(nil), r.got...)
}

// newTest builds a breaker on a fake clock with jitter off unless s sets
// it, and records its transitions.
func newTest(t testing.TB, s Settings) (*Breaker, *fakeClock, *recorder) {
	t.Helper()
	c := newClock()
	r := &recorder{}
	s.Now = c.Now
	if s.Jitter == 0 {
		s.Jitter = -1
	}
	if s.OnStateChange == nil {
		s.OnStateChange = r.hook
	}
	b, err := New(s)
	if err != nil {
		t.Fatalf("New(%+v): %v", s, err)
	}
	return b, c, r
}

// must admits a request or fails the test.
func must(t testing.TB, b *Breaker) Done {
	t.Helper()
	d, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow: %v (state %v)", err, b.Counts().State)
	}
	return d
}

// outcome admits one request and reports it.
func outcome(t testing.TB, b *Breaker, success bool, latency time.Duration) {
	t.Helper()
	must(t, b).Report(success, latency)
}

// tripNow drives a closed breaker open with consecutive failures.
func tripNow(t testing.TB, b *Breaker) {
	t.Helper()
	for b.Counts().State == Closed {
		outcome(t, b, false, 0)
	}
}

// wantState checks the stored state without moving an open breaker on.
func wantState(t testing.TB, b *Breaker, want State) {
	t.Helper()
	if got := b.Counts().State; got != want {
		t.Fatalf("state = %v, want %v", got, want)
	}
}
