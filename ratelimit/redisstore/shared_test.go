package redisstore

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// exact are settings without leases: every admitted request is a script
// call, so two Stores must behave as one bucket.
func exact(rps float64, burst int) Settings {
	return Settings{RequestsPerSecond: rps, Burst: burst, LeaseSize: 1}
}

// mustAllow calls Allow and fails the test on error.
func mustAllow(t testing.TB, st *Store, key string) bool {
	t.Helper()
	d, err := st.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d.Allowed
}

func TestSharedBurstIsExact(t *testing.T) {
	r := redistest.Start(t)
	// One token per 100 s: nothing refills during the test.
	a := newTestStore(t, r, exact(0.01, 20))
	skewed := exact(0.01, 20)
	// The bucket runs on the server's clock: an instance an hour ahead
	// shares it all the same.
	skewed.Now = func() time.Time { return time.Now().Add(time.Hour) }
	b := newTestStore(t, r, skewed)

	var admitted atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 60 {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Go(func() {
			<-start
			if mustAllow(t, st, "client") {
				admitted.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if got := admitted.Load(); got != 20 {
		t.Fatalf("60 concurrent requests over two stores, burst 20: admitted %d, want exactly 20", got)
	}
	for _, st := range []*Store{a, b} {
		if st.Degraded() || st.Errors() != 0 {
			t.Fatalf("store degraded %v with %d errors", st.Degraded(), st.Errors())
		}
	}
}

func TestSharedRefill(t *testing.T) {
	r := redistest.Start(t)
	const rps, burst = 20, 10
	a := newTestStore(t, r, exact(rps, burst))
	b := newTestStore(t, r, exact(rps, burst))

	drainStart := time.Now()
	n := 0
	for mustAllow(t, a, "k") {
		n++
	}
	drainEnd := time.Now()
	if n < burst || n > burst+1 {
		t.Fatalf("drained %d tokens from a full bucket of %d", n, burst)
	}
	time.Sleep(250 * time.Millisecond)
	checkStart := time.Now()
	got := 0
	for i := 0; mustAllow(t, [2]*Store{a, b}[i%2], "k"); i++ {
		got++
	}
	checkEnd := time.Now()
	lo := int(math.Floor(rps * checkStart.Sub(drainEnd).Seconds()))
	hi := int(math.Ceil(rps * checkEnd.Sub(drainStart).Seconds()))
	if got < lo || got > hi {
		t.Fatalf("after %v the refill admitted %d, want %d..%d at %v/s",
			checkStart.Sub(drainEnd), got, lo, hi, float64(rps))
	}
}

func TestSharedFractionalRates(t *testing.T) {
	r := redistest.Start(t)
	tests := []struct {
		name  string
		rps   float64
		burst int
		retry time.Duration // RetryAfter once the burst is spent
	}{
		{"one every two seconds", 0.5, 1, 2 * time.Second},
		{"two and a half a second", 2.5, 2, 400 * time.Millisecond},
		{"a third a second", 1.0 / 3, 3, 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestStore(t, r, exact(tc.rps, tc.burst))
			b := newTestStore(t, r, exact(tc.rps, tc.burst))
			key := tc.name
			start := time.Now()
			for i := range tc.burst {
				d, err := [2]*Store{a, b}[i%2].Allow(context.Background(), key)
				if err != nil || !d.Allowed {
					t.Fatalf("request %d of the burst: %+v, %v", i, d, err)
				}
				if want := tc.burst - 1 - i; d.Remaining != want {
					t.Fatalf("request %d: Remaining %d, want %d", i, d.Remaining, want)
				}
			}
			d, err := b.Allow(context.Background(), key)
			elapsed := time.Since(start)
			if err != nil || d.Allowed {
				t.Fatalf("request after the burst: %+v, %v; want refused", d, err)
			}
			// The refill started at the first request; it is at most
			// elapsed old (plus slack: the server's and the client's clocks
			// are read at different moments, and a loaded CI machine
			// stretches the gap).
			const slack = 20 * time.Millisecond
			if d.RetryAfter > tc.retry || d.RetryAfter < tc.retry-elapsed-slack {
				t.Fatalf("RetryAfter %v, want about %v (elapsed %v)", d.RetryAfter, tc.retry, elapsed)
			}
			full := time.Duration(float64(tc.burst) / tc.rps * float64(time.Second))
			if d.Reset > full || d.Reset < full-elapsed-slack {
				t.Fatalf("Reset %v, want about %v", d.Reset, full)
			}
		})
	}
}

func TestSharedKeysAreIndependent(t *testing.T) {
	r := redistest.Start(t)
	a := newTestStore(t, r, exact(0.01, 3))
	b := newTestStore(t, r, exact(0.01, 3))
	for range 3 {
		if !mustAllow(t, a, "alice") {
			t.Fatal("alice refused within her burst")
		}
	}
	if mustAllow(t, b, "alice") {
		t.Fatal("alice admitted by the other store past her burst")
	}
	for i := range 3 {
		if !mustAllow(t, b, "bob") {
			t.Fatalf("bob refused at request %d: alice's bucket leaked into his", i)
		}
	}
}

func TestSharedGlobalIgnoresKeys(t *testing.T) {
	r := redistest.Start(t)
	s := exact(0.01, 3)
	s.Global = true
	a := newTestStore(t, r, s)
	b := newTestStore(t, r, s)
	admitted := 0
	for i := range 10 {
		if mustAllow(t, [2]*Store{a, b}[i%2], string(rune('a'+i))) {
			admitted++
		}
	}
	if admitted != 3 {
		t.Fatalf("ten keys on one global bucket of 3: admitted %d", admitted)
	}
	n, err := r.Admin.Exists(context.Background(), DefaultKeyPrefix+globalSuffix).Result()
	if err != nil || n != 1 {
		t.Fatalf("global bucket key: exists %d, %v", n, err)
	}
}

func TestSharedKeysExpire(t *testing.T) {
	r := redistest.Start(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		rps   float64
		burst int
		take  int
		pttl  time.Duration // the time to refill what was taken
	}{
		{"three seconds of debt", 1, 5, 3, 3 * time.Second},
		{"ten milliseconds", 100, 10, 1, 10 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := exact(tc.rps, tc.burst)
			s.KeyPrefix = "test:" + tc.name + ":"
			st := newTestStore(t, r, s)
			for range tc.take {
				mustAllow(t, st, "k")
			}
			pttl, err := r.Admin.PTTL(ctx, s.KeyPrefix+keySuffix+"k").Result()
			if err != nil {
				t.Fatal(err)
			}
			// PX is the debt rounded up to a millisecond, plus one.
			if pttl <= 0 || pttl > tc.pttl+2*time.Millisecond || pttl < tc.pttl-200*time.Millisecond {
				t.Fatalf("PTTL %v, want about %v", pttl, tc.pttl)
			}
		})
	}
	// A full bucket leaves nothing behind.
	s := exact(100, 10)
	s.KeyPrefix = "test:vanish:"
	st := newTestStore(t, r, s)
	mustAllow(t, st, "k")
	eventually(t, 2*time.Second, "bucket key expiring once full", func() bool {
		n, err := r.Admin.Exists(ctx, s.KeyPrefix+keySuffix+"k").Result()
		return err == nil && n == 0
	})
}

func TestSharedSurvivesScriptFlush(t *testing.T) {
	r := redistest.Start(t)
	st := newTestStore(t, r, exact(0.01, 2))
	mustAllow(t, st, "k")
	if err := r.Admin.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if !mustAllow(t, st, "k") {
		t.Fatal("second token refused after SCRIPT FLUSH")
	}
	if mustAllow(t, st, "k") {
		t.Fatal("third token admitted from a bucket of 2")
	}
	if st.Degraded() || st.Errors() != 0 {
		t.Fatalf("NOSCRIPT counted as a failure: degraded %v, errors %d", st.Degraded(), st.Errors())
	}
}
