package ratelimit

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var seed = Settings{RequestsPerSecond: 100, Burst: 10}

// drain takes requests for key at at until one is refused, returning how
// many were allowed (at most limit, to stop a broken limiter).
func drain(l *Limiter, key string, at time.Time, limit int) int {
	n := 0
	for n < limit && l.Allow(key, at).Allowed {
		n++
	}
	return n
}

func TestIndependentKeys(t *testing.T) {
	l := mustNew(t, seed)
	if n := drain(l, "alice", t0, 100); n != 10 {
		t.Fatalf("alice got %d requests at t0, want 10", n)
	}
	// bob is untouched by alice's spending.
	if n := drain(l, "bob", t0, 100); n != 10 {
		t.Fatalf("bob got %d requests at t0, want 10", n)
	}
	// And alice's refill is her own: one more each 10ms.
	if n := drain(l, "alice", t0.Add(10*time.Millisecond), 100); n != 1 {
		t.Fatalf("alice got %d requests at t0+10ms, want 1", n)
	}
	if got := l.Keys(); got != 2 {
		t.Errorf("Keys() = %d, want 2", got)
	}
}

func TestGlobal(t *testing.T) {
	s := seed
	s.Global = true
	l := mustNew(t, s)
	allowed := 0
	for i := range 100 {
		if l.Allow("client-"+strconv.Itoa(i), t0).Allowed {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("100 distinct keys at t0 got %d requests through one global bucket, want 10", allowed)
	}
	d := l.Allow("anyone", t0)
	if d.Allowed || d.RetryAfter != 10*time.Millisecond {
		t.Fatalf("after the burst: %+v, want refused with RetryAfter 10ms", d)
	}
	if !l.Allow("someone else", t0.Add(10*time.Millisecond)).Allowed {
		t.Fatal("refill after 10ms not shared across keys")
	}
	if l.Keys() != 0 || l.Evictions() != 0 || l.Overflowed() != 0 {
		t.Errorf("global mode stored keys: Keys %d, Evictions %d, Overflowed %d", l.Keys(), l.Evictions(), l.Overflowed())
	}
}

func TestAllowNowUsesClock(t *testing.T) {
	var now atomic.Int64
	now.Store(t0.UnixNano())
	s := seed
	s.Now = func() time.Time { return time.Unix(0, now.Load()) }
	l := mustNew(t, s)
	for range 10 {
		if !l.AllowNow("k").Allowed {
			t.Fatal("refused within the burst")
		}
	}
	if d := l.AllowNow("k"); d.Allowed || d.RetryAfter != 10*time.Millisecond {
		t.Fatalf("11th request: %+v, want refused with RetryAfter 10ms", d)
	}
	now.Add(int64(10 * time.Millisecond))
	if !l.AllowNow("k").Allowed {
		t.Fatal("refused after the clock moved 10ms")
	}
}

func TestAllowNowDefaultsToRealClock(t *testing.T) {
	l := mustNew(t, Settings{RequestsPerSecond: 1e-6, Burst: 2})
	// With a refill of one token per ~11 days, three calls in a row on the
	// real clock must see exactly the burst.
	got := []bool{l.AllowNow("k").Allowed, l.AllowNow("k").Allowed, l.AllowNow("k").Allowed}
	if !got[0] || !got[1] || got[2] {
		t.Fatalf("AllowNow x3 = %v, want [true true false]", got)
	}
}

func TestSettingsRoundTrip(t *testing.T) {
	s := Settings{RequestsPerSecond: 2.5, Burst: 4, MaxKeys: 99}
	got := mustNew(t, s).Settings()
	if got.RequestsPerSecond != s.RequestsPerSecond || got.Burst != s.Burst || got.MaxKeys != s.MaxKeys || got.Global != s.Global {
		t.Fatalf("Settings() = %+v, want %+v", got, s)
	}
}

func TestShardCapacities(t *testing.T) {
	tests := []struct {
		maxKeys, shards int
	}{
		{0, 64}, // default 100000
		{1, 1},
		{31, 1},
		{32, 2},
		{1000, 32},
		{1024, 64},
		{100_000, 64},
		{100_001, 64},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.maxKeys), func(t *testing.T) {
			l := mustNew(t, Settings{RequestsPerSecond: 1, Burst: 1, MaxKeys: tc.maxKeys})
			if len(l.shards) != tc.shards {
				t.Errorf("%d shards, want %d", len(l.shards), tc.shards)
			}
			want := tc.maxKeys
			if want == 0 {
				want = DefaultMaxKeys
			}
			sum, lo, hi := 0, want, 0
			for i := range l.shards {
				c := l.shards[i].capacity
				sum += c
				lo, hi = min(lo, c), max(hi, c)
			}
			if sum != want || hi-lo > 1 {
				t.Errorf("capacities sum to %d (min %d, max %d), want exactly %d, evenly spread", sum, lo, hi, want)
			}
		})
	}
}

// TestConcurrentBurst hammers one key and many keys from several goroutines
// at one instant: exactly Burst requests per key may pass, whatever the
// interleaving. Run under -race it also checks the locking.
func TestConcurrentBurst(t *testing.T) {
	l := mustNew(t, seed)
	const workers, perWorker, keys = 8, 200, 20
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				k := (i + w) % keys
				if l.Allow("key-"+strconv.Itoa(k), t0).Allowed {
					allowed[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for k := range allowed {
		if n := allowed[k].Load(); n != int64(seed.Burst) {
			t.Errorf("key-%d: %d requests allowed at one instant, want %d", k, n, seed.Burst)
		}
	}
}

func TestKnownKeyAllocatesNothing(t *testing.T) {
	l := mustNew(t, seed)
	l.Allow("known", t0)
	at := t0
	allocs := testing.AllocsPerRun(1000, func() {
		at = at.Add(time.Millisecond)
		l.Allow("known", at)
	})
	if allocs != 0 {
		t.Fatalf("Allow on a known key: %v allocations per call, want 0", allocs)
	}
	g := mustNew(t, Settings{RequestsPerSecond: 100, Burst: 10, Global: true})
	if allocs := testing.AllocsPerRun(1000, func() { g.Allow("x", t0) }); allocs != 0 {
		t.Fatalf("Allow in global mode: %v allocations per call, want 0", allocs)
	}
}
