package health

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func withClock(c clock) Option         { return func(o *options) { o.clock = c } }
func withRand(f func() float64) Option { return func(o *options) { o.rand = f } }
func half() float64                    { return 0.5 }

var errProbe = errors.New("probe failed")

// recorder is an Observer that keeps what it is told and notices if it is
// ever called twice at once.
type recorder struct {
	mu       sync.Mutex
	got      []Transition
	inFlight atomic.Int32
	overlap  atomic.Bool
}

func (r *recorder) Observe(t Transition) {
	if r.inFlight.Add(1) > 1 {
		r.overlap.Store(true)
	}
	r.mu.Lock()
	r.got = append(r.got, t)
	r.mu.Unlock()
	r.inFlight.Add(-1)
}

func (r *recorder) transitions() []Transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Transition(nil), r.got...)
}

// arrows renders transitions compactly, e.g. "a:healthy>unhealthy".
func arrows(ts []Transition) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Target+":"+t.From.String()+">"+t.To.String())
	}
	return out
}

// startedChecker builds and starts a Checker on a fake clock, subscribes a
// recorder and stops it at cleanup. Tests of the state machine feed results
// to the Records themselves, so the check loops are parked: unless s sets
// an Interval it is 1000h here (first check after 50h of fake time), and
// unless opts bring a CheckFunc, one that fails the test if it runs.
func startedChecker(tb testing.TB, s Settings, clk *fakeClock, targets []Target, opts ...Option) (*Checker, *recorder) {
	tb.Helper()
	if s.Interval == 0 {
		s.Interval = 1000 * time.Hour
	}
	unexpected := func(context.Context, Target) error {
		tb.Error("unexpected active check")
		return nil
	}
	opts = append([]Option{withClock(clk), withRand(half), WithCheck(unexpected)}, opts...)
	c, err := New(s, targets, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	rec := &recorder{}
	c.Subscribe(rec)
	c.Start(context.Background())
	tb.Cleanup(c.Stop)
	return c, rec
}

// eventually polls cond until it holds, failing the test after a generous
// deadline. It asserts nothing about timing; it only keeps a broken test
// from hanging.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
