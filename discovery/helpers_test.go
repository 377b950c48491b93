package discovery

import (
	"testing"
	"time"
)

// stepper replaces the Watcher's timers: every wait the Watcher asks for
// is sent on waits, and the wait ends when the test sends on tick.
type stepper struct {
	waits chan time.Duration
	tick  chan time.Time
}

func newStepper() *stepper {
	return &stepper{waits: make(chan time.Duration, 16), tick: make(chan time.Time)}
}

func (s *stepper) after(d time.Duration) (<-chan time.Time, func() bool) {
	s.waits <- d
	return s.tick, func() bool { return true }
}

func withStepper(s *stepper) Option { return func(w *Watcher) { w.after = s.after } }

// recv returns the next value of ch, failing the test after a generous
// deadline that only keeps a broken test from hanging.
func recv[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		tb.Fatalf("gave up waiting for %s", what)
		panic("unreachable")
	}
}

// none fails the test if ch holds a value now.
func none[T any](tb testing.TB, ch <-chan T, what string) {
	tb.Helper()
	select {
	case v := <-ch:
		tb.Fatalf("unexpected %s: %v", what, v)
	default:
	}
}

// urls lists the backends' URLs.
func urls(bs []Backend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.URL
	}
	return out
}

// watch builds a started Watcher on srv with a stepper and channels for
// its callbacks; it is stopped at cleanup.
func watch(tb testing.TB, srv *dnsServer, cfg Config) (*Watcher, *stepper, chan []Backend, chan error) {
	tb.Helper()
	cfg.Resolvers = []string{srv.addr}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	st := newStepper()
	changes := make(chan []Backend, 16)
	errs := make(chan error, 16)
	w, err := New(cfg, withStepper(st), OnChange(func(b []Backend) { changes <- b }), OnError(func(e error) { errs <- e }))
	if err != nil {
		tb.Fatal(err)
	}
	w.Start(tb.Context())
	tb.Cleanup(w.Stop)
	return w, st, changes, errs
}
