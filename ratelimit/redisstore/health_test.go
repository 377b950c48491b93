package redisstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// hookLog records OnStateChange calls.
type hookLog struct {
	mu    sync.Mutex
	calls []string
}

func (h *hookLog) hook(degraded bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if degraded {
		h.calls = append(h.calls, "down: "+err.Error())
	} else {
		h.calls = append(h.calls, "up")
	}
}

func (h *hookLog) get() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

func TestDegradedSkipsRedisUntilTheProbeSucceeds(t *testing.T) {
	tests := []struct {
		policy FailurePolicy
		// check judges a decision made while degraded, the i-th since the
		// failure (the failing request is 0).
		check func(t *testing.T, i int, allowed bool, err error)
	}{
		{FailOpen, func(t *testing.T, i int, allowed bool, err error) {
			// The fallback limiter: a burst of 3 at a frozen instant.
			if err != nil || allowed != (i < 3) {
				t.Fatalf("fail_open request %d: allowed %v, err %v; want the fallback's burst of 3", i, allowed, err)
			}
		}},
		{FailClosed, func(t *testing.T, i int, allowed bool, err error) {
			if !errors.Is(err, ErrUnavailable) || allowed {
				t.Fatalf("fail_closed request %d: allowed %v, err %v; want ErrUnavailable", i, allowed, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(string(tc.policy), func(t *testing.T) {
			var up bool
			var mu sync.Mutex
			f := &fakeRedis{reply: func(int) (grant, error) {
				mu.Lock()
				defer mu.Unlock()
				if !up {
					return grant{}, errDown
				}
				return grant{granted: 1, left: 0, next: time.Second}, nil
			}}
			f.pingErr.Store(&errDown)
			var log hookLog
			s := Settings{RequestsPerSecond: 1, Burst: 3, FailurePolicy: tc.policy,
				ProbeInterval: 5 * time.Millisecond, OnStateChange: log.hook}
			st := newFakeStore(t, s, f, newFakeClock())
			for i := range 5 {
				d, err := st.Allow(context.Background(), "k")
				tc.check(t, i, d.Allowed, err)
			}
			if f.calls() != 1 || !st.Degraded() || st.Transitions() != 1 {
				t.Fatalf("after a failure: %d calls, degraded %v, %d transitions; want 1, true, 1",
					f.calls(), st.Degraded(), st.Transitions())
			}
			// The probe keeps failing: still degraded, still no script call.
			eventually(t, 10*time.Second, "failed probes counted", func() bool { return st.Errors() >= 3 })
			if !st.Degraded() || f.calls() != 1 {
				t.Fatalf("failing probes: degraded %v, %d script calls", st.Degraded(), f.calls())
			}
			mu.Lock()
			up = true
			mu.Unlock()
			f.pingErr.Store(nil)
			eventually(t, 10*time.Second, "recovery", func() bool { return !st.Degraded() })
			d, err := st.Allow(context.Background(), "k")
			if err != nil || !d.Allowed || f.calls() != 2 {
				t.Fatalf("after recovery: %+v, %v, %d calls; want a Redis decision", d, err, f.calls())
			}
			if got := log.get(); len(got) != 2 || got[0] != "down: connection refused" || got[1] != "up" {
				t.Fatalf("OnStateChange calls %q", got)
			}
			if st.Transitions() != 2 {
				t.Fatalf("%d transitions, want 2", st.Transitions())
			}
		})
	}
}

func TestCloseStopsTheProbe(t *testing.T) {
	f := &fakeRedis{reply: plenty}
	st := newFakeStore(t, Settings{RequestsPerSecond: 1, Burst: 1, ProbeInterval: time.Millisecond}, f, nil)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.done:
	default:
		t.Fatal("probe goroutine still running after Close")
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := st.Allow(context.Background(), "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Allow after Close: %v, want ErrClosed", err)
	}
	if f.calls() != 0 {
		t.Fatal("Allow after Close called Redis")
	}
}
