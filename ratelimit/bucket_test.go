package ratelimit

import (
	"encoding/binary"
	"hash/maphash"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// t0 is a fixed instant far from the real clock: no test reads time.Now.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func mustNew(t testing.TB, s Settings) *Limiter {
	t.Helper()
	l, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// step is one request in a scripted sequence and the decision it must get.
type step struct {
	at   time.Duration // after t0
	want Decision
}

func runSteps(t *testing.T, l *Limiter, key string, steps []step) {
	t.Helper()
	for i, st := range steps {
		if got := l.Allow(key, t0.Add(st.at)); got != st.want {
			t.Fatalf("step %d at t0+%v: got %+v, want %+v", i, st.at, got, st.want)
		}
	}
}

func TestBucketSequences(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		s     Settings
		steps []step
	}{
		{
			name: "seed: burst of 10, then one per 10ms",
			s:    Settings{RequestsPerSecond: 100, Burst: 10},
			steps: []step{
				{0, Decision{Allowed: true, Remaining: 9, Reset: 10 * ms}},
				{0, Decision{Allowed: true, Remaining: 8, Reset: 20 * ms}},
				{0, Decision{Allowed: true, Remaining: 7, Reset: 30 * ms}},
				{0, Decision{Allowed: true, Remaining: 6, Reset: 40 * ms}},
				{0, Decision{Allowed: true, Remaining: 5, Reset: 50 * ms}},
				{0, Decision{Allowed: true, Remaining: 4, Reset: 60 * ms}},
				{0, Decision{Allowed: true, Remaining: 3, Reset: 70 * ms}},
				{0, Decision{Allowed: true, Remaining: 2, Reset: 80 * ms}},
				{0, Decision{Allowed: true, Remaining: 1, Reset: 90 * ms}},
				{0, Decision{Allowed: true, Remaining: 0, Reset: 100 * ms}},
				{0, Decision{RetryAfter: 10 * ms, Reset: 100 * ms}},
				{4 * ms, Decision{RetryAfter: 6 * ms, Reset: 96 * ms}},
				{10 * ms, Decision{Allowed: true, Remaining: 0, Reset: 100 * ms}},
				{10 * ms, Decision{RetryAfter: 10 * ms, Reset: 100 * ms}},
				{20 * ms, Decision{Allowed: true, Remaining: 0, Reset: 100 * ms}},
				// 50ms idle: 5 tokens back, one taken.
				{70 * ms, Decision{Allowed: true, Remaining: 4, Reset: 60 * ms}},
				// A long idle caps at Burst.
				{time.Hour, Decision{Allowed: true, Remaining: 9, Reset: 10 * ms}},
			},
		},
		{
			name: "half a request a second: one every 2s",
			s:    Settings{RequestsPerSecond: 0.5, Burst: 1},
			steps: []step{
				{0, Decision{Allowed: true, Remaining: 0, Reset: 2 * time.Second}},
				{0, Decision{RetryAfter: 2 * time.Second, Reset: 2 * time.Second}},
				{time.Second, Decision{RetryAfter: time.Second, Reset: time.Second}},
				{1999 * ms, Decision{RetryAfter: ms, Reset: ms}},
				{2 * time.Second, Decision{Allowed: true, Remaining: 0, Reset: 2 * time.Second}},
				{3 * time.Second, Decision{RetryAfter: time.Second, Reset: time.Second}},
				{4 * time.Second, Decision{Allowed: true, Remaining: 0, Reset: 2 * time.Second}},
			},
		},
		{
			name: "fractional tokens floor in Remaining",
			s:    Settings{RequestsPerSecond: 2, Burst: 3},
			steps: []step{
				{0, Decision{Allowed: true, Remaining: 2, Reset: 500 * ms}},
				{0, Decision{Allowed: true, Remaining: 1, Reset: time.Second}},
				{0, Decision{Allowed: true, Remaining: 0, Reset: 1500 * ms}},
				// 1.5 tokens back after 750ms: one taken, 0.5 left.
				{750 * ms, Decision{Allowed: true, Remaining: 0, Reset: 1250 * ms}},
				{750 * ms, Decision{RetryAfter: 250 * ms, Reset: 1250 * ms}},
			},
		},
		{
			name: "clock going backwards refills nothing",
			s:    Settings{RequestsPerSecond: 1, Burst: 2},
			steps: []step{
				{10 * time.Second, Decision{Allowed: true, Remaining: 1, Reset: time.Second}},
				{10 * time.Second, Decision{Allowed: true, Remaining: 0, Reset: 2 * time.Second}},
				{5 * time.Second, Decision{RetryAfter: time.Second, Reset: 2 * time.Second}},
				{10 * time.Second, Decision{RetryAfter: time.Second, Reset: 2 * time.Second}},
				{11 * time.Second, Decision{Allowed: true, Remaining: 0, Reset: 2 * time.Second}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, mustNew(t, tc.s), "k", tc.steps)
		})
	}
}

// TestRetryAfterIsEnough checks that waiting RetryAfter always finds a token
// and that, at nanosecond resolution, waiting less does not.
func TestRetryAfterIsEnough(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		s := Settings{RequestsPerSecond: 0.1 + r.Float64()*1000, Burst: 1 + r.IntN(20)}
		l := mustNew(t, s)
		at := t0
		for range 200 {
			at = at.Add(time.Duration(r.Int64N(int64(2 * time.Second / time.Duration(s.RequestsPerSecond+1)))))
			d := l.Allow("k", at)
			if d.Allowed {
				continue
			}
			// Ask a copy, so that probing does not change l.
			probe := *l.bucketFor(t, "k")
			if ok := l.p.take(&probe, int64(at.Add(d.RetryAfter).Sub(l.epoch))); !ok.Allowed {
				t.Fatalf("%+v: refused again after waiting RetryAfter %v", s, d.RetryAfter)
			}
			probe = *l.bucketFor(t, "k")
			if ok := l.p.take(&probe, int64(at.Add(d.RetryAfter-3).Sub(l.epoch))); ok.Allowed {
				t.Fatalf("%+v: RetryAfter %v is 3ns or more too long", s, d.RetryAfter)
			}
		}
	}
}

// bucketFor returns the bucket stored for key, failing if there is none. The
// caller must not run Allow concurrently.
func (l *Limiter) bucketFor(t testing.TB, key string) *bucket {
	t.Helper()
	s, k := l.locate(key)
	i, ok := s.index[k]
	if !ok {
		t.Fatalf("key %q is not stored", key)
	}
	return &s.slots[i].b
}

// locate returns the shard that holds key and the form key is stored in
// there: key itself, or its digest when it is longer than MaxKeyBytes.
func (l *Limiter) locate(key string) (*shard, string) {
	if len(key) <= MaxKeyBytes {
		return &l.shards[maphash.String(l.seed, key)&l.mask], key
	}
	d := l.long.Sum(key)
	return &l.shards[binary.LittleEndian.Uint64(d[:])&l.mask], string(d[:])
}

// matchesRate replays a request script against a Limiter and against
// x/time/rate's Limiter, failing at the first decision where they differ.
// Each script entry is a time step in nanoseconds (negative: the clock went
// back).
func matchesRate(t *testing.T, rps float64, burst int, script []int64) {
	t.Helper()
	l := mustNew(t, Settings{RequestsPerSecond: rps, Burst: burst, Global: true})
	ref := rate.NewLimiter(rate.Limit(rps), burst)
	at := t0
	for i, dt := range script {
		at = at.Add(time.Duration(dt))
		got := l.Allow("", at)
		want := ref.AllowN(at, 1)
		if got.Allowed != want {
			t.Fatalf("rps %v burst %d, request %d at t0+%v: Allowed %v, x/time/rate says %v",
				rps, burst, i, at.Sub(t0), got.Allowed, want)
		}
		if tokens := ref.TokensAt(at); got.Allowed && got.Remaining != wholeTokens(tokens) {
			t.Fatalf("rps %v burst %d, request %d: Remaining %d, x/time/rate has %v tokens",
				rps, burst, i, got.Remaining, tokens)
		}
	}
}

func TestMatchesXTimeRate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		rps := []float64{0.5, 1, 3, 7.25, 100, 1000, 0.01 + r.Float64()*500}[r.IntN(7)]
		burst := 1 + r.IntN(30)
		mean := float64(time.Second) / rps
		script := make([]int64, 500)
		for i := range script {
			switch r.IntN(10) {
			case 0: // a burst: same instant
			case 1: // clock going back
				script[i] = -r.Int64N(int64(mean) + 1)
			default:
				script[i] = int64(r.ExpFloat64() * mean / 2)
			}
		}
		matchesRate(t, rps, burst, script)
	}
}

// FuzzMatchesXTimeRate lets the fuzzer choose the rate, burst and timing.
func FuzzMatchesXTimeRate(f *testing.F) {
	f.Add(100.0, uint8(10), []byte{0, 0, 0, 0, 10, 0, 0, 0})
	f.Add(0.5, uint8(1), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Fuzz(func(t *testing.T, rps float64, burst uint8, data []byte) {
		if !(rps >= 1e-3 && rps <= 1e6) || burst == 0 {
			t.Skip()
		}
		var script []int64
		for len(data) >= 4 {
			// Signed 32-bit microsecond steps: up to about ±35 minutes.
			us := int32(binary.LittleEndian.Uint32(data))
			script = append(script, int64(us)*int64(time.Microsecond))
			data = data[4:]
		}
		matchesRate(t, rps, int(burst), script)
	})
}
