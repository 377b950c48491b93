package redisstore

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/ratelimit"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// maxInWindow is the most instants of sorted that fall in any window of
// length w.
func maxInWindow(sorted []time.Time, w time.Duration) int {
	most, j := 0, 0
	for i := range sorted {
		for sorted[i].Sub(sorted[j]) > w {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// TestThreeInstancesShareOneLimit is the scenario: three instances,
// one key, 30 requests/s with a burst of 30, 5 s of load well above the
// limit spread over all three, with leases on (the defaults).
func TestThreeInstancesShareOneLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 5 s of real time")
	}
	r := redistest.Start(t)
	s := Settings{RequestsPerSecond: 30, Burst: 30}
	if l, d := s.Lease(); l != 3 || d != 100*time.Millisecond {
		t.Fatalf("lease for 30/s burst 30: %d tokens for %v, want 3 for 100ms", l, d)
	}
	var stores [3]*Store
	var locals [3]*ratelimit.Limiter
	for i := range stores {
		stores[i] = newTestStore(t, r, s)
		l, err := ratelimit.New(ratelimit.Settings{RequestsPerSecond: s.RequestsPerSecond, Burst: s.Burst})
		if err != nil {
			t.Fatal(err)
		}
		locals[i] = l
	}

	const run = 5 * time.Second
	const every = 4 * time.Millisecond // 250 requests/s per instance
	var mu sync.Mutex
	var shared []time.Time
	var requests, local int
	var wg sync.WaitGroup
	start := time.Now()
	for i := range stores {
		wg.Go(func() {
			var mine []time.Time
			n, loc := 0, 0
			for next := start; time.Since(start) < run; next = next.Add(every) {
				time.Sleep(time.Until(next))
				d, err := stores[i].Allow(context.Background(), "api")
				if err != nil {
					t.Errorf("instance %d: %v", i, err)
					return
				}
				now := time.Now()
				if d.Allowed {
					mine = append(mine, now)
				}
				if locals[i].Allow("api", now).Allowed {
					loc++
				}
				n++
			}
			mu.Lock()
			shared = append(shared, mine...)
			requests += n
			local += loc
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.SortFunc(shared, func(a, b time.Time) int { return a.Compare(b) })

	var calls uint64
	for _, st := range stores {
		calls += st.RedisCalls()
		if st.Errors() != 0 {
			t.Fatalf("store had %d Redis errors", st.Errors())
		}
	}
	ideal := float64(s.Burst) + s.RequestsPerSecond*elapsed.Seconds()
	oneSecond := maxInWindow(shared, time.Second)
	t.Logf("%d requests in %v: shared admitted %d (one exact bucket: %.0f), three local limiters %d; "+
		"most in any 1 s: %d; %d Redis calls", requests, elapsed.Round(time.Millisecond), len(shared), ideal,
		local, oneSecond, calls)

	// From untouched buckets every admission is a granted token.
	if float64(len(shared)) > ideal {
		t.Errorf("shared store admitted %d, more than one bucket's %.1f", len(shared), ideal)
	}
	if float64(len(shared)) < 0.9*ideal {
		t.Errorf("shared store admitted %d, less than 90%% of one bucket's %.1f", len(shared), ideal)
	}
	// The stated bound for any window: Burst + rps×T + L.
	if bound := s.Burst + int(s.RequestsPerSecond) + s.OverAdmission(); oneSecond > bound {
		t.Errorf("%d admitted within one second, bound %d", oneSecond, bound)
	}
	if float64(local) < 2.5*ideal {
		t.Errorf("three local limiters admitted %d, want about three times %.0f", local, ideal)
	}
	if calls > uint64(requests)/4 {
		t.Errorf("%d Redis calls for %d requests: leases and cached refusals are not saving calls", calls, requests)
	}
}
