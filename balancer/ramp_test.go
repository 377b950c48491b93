package balancer

import (
	"math"
	"testing"
	"time"
)

func TestRampFraction(t *testing.T) {
	const window = 100 * time.Second
	tests := []struct {
		name   string
		window time.Duration
		since  time.Duration // available since epoch+since; -1: never marked
		now    time.Duration // clock at epoch+now
		want   float64
	}{
		{name: "slow start off", window: 0, since: 0, now: 0, want: 1},
		{name: "available since forever", window: window, since: -1, now: 0, want: 1},
		{name: "just available", window: window, since: 0, now: 0, want: 0.1},
		{name: "quarter way", window: window, since: 0, now: 25 * time.Second, want: 0.325},
		{name: "half way", window: window, since: 0, now: 50 * time.Second, want: 0.55},
		{name: "window over", window: window, since: 0, now: 100 * time.Second, want: 1},
		{name: "long over", window: window, since: 0, now: time.Hour, want: 1},
		{name: "marked in the future", window: window, since: time.Minute, now: 0, want: 0.1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := makeBackends(t, 1)[0]
			if tc.since >= 0 {
				b.MarkAvailable(epoch.Add(tc.since))
			}
			clk := newFakeClock(epoch.Add(tc.now))
			r := ramp{window: tc.window, now: clk.Now}
			if got := r.fraction(b, &clock{now: clk.Now}); math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("fraction = %v, want %v", got, tc.want)
			}
		})
	}
}

// A ramping backend is picked as if its weight were fraction x weight: the
// ratio of its picks to an equal full-weight backend's is the fraction.
// (least_latency is covered with equal measured latencies, where it ties.)
func TestSlowStartRampsShares(t *testing.T) {
	const window = 100 * time.Second
	for _, alg := range []string{RoundRobin, WeightedRoundRobin, Random, P2C, LeastConnections, LeastLatency} {
		for _, at := range []time.Duration{0, 50 * time.Second, 100 * time.Second} {
			t.Run(alg+"/at="+at.String(), func(t *testing.T) {
				clk := newFakeClock(epoch)
				bs := makeBackends(t, 1, 1)
				bs[1].MarkAvailable(clk.Now())
				for _, b := range bs {
					b.ObserveLatency(10*time.Millisecond, clk.Now())
				}
				clk.Advance(at)
				want := 0.1 + 0.9*math.Min(1, float64(at)/float64(window))
				p := mustNew(t, Config{Algorithm: alg, SlowStart: window, Now: clk.Now}).Build(bs)
				counts := countPicks(t, p, bs, nil, 100_000)
				// The try limit lets a little more through near the floor
				// (0.1 becomes about 0.1 + 0.9^8 / 2 for two backends).
				got := float64(counts[1]) / float64(counts[0])
				if math.Abs(got-want) > 0.04 {
					t.Fatalf("ramping:full picks = %.3f (%v), want %.3f ± 0.04", got, counts, want)
				}
			})
		}
	}
}

// Under load, least_connections holds a ramping backend to its fraction of
// the in-flight requests.
func TestSlowStartHoldsLoad(t *testing.T) {
	clk := newFakeClock(epoch)
	bs := makeBackends(t, 1, 1)
	bs[1].MarkAvailable(clk.Now())
	clk.Advance(50 * time.Second) // fraction 0.55
	p := mustNew(t, Config{Algorithm: LeastConnections, SlowStart: 100 * time.Second, Now: clk.Now}).Build(bs)
	for range 1000 {
		p.Pick(nil).Acquire()
	}
	ratio := float64(bs[1].InFlight()) / float64(bs[0].InFlight())
	if math.Abs(ratio-0.55) > 0.03 {
		t.Fatalf("in flight %d (ramping) : %d = %.3f, want 0.55 ± 0.03", bs[1].InFlight(), bs[0].InFlight(), ratio)
	}
}

// Slow start reads the clock only when a backend was marked available, so
// pools that never ramp pay nothing for it. (least_latency always reads
// the clock, for latency decay.)
func TestSlowStartReadsClockOnlyWhenNeeded(t *testing.T) {
	for _, alg := range []string{RoundRobin, WeightedRoundRobin, Random, P2C, LeastConnections} {
		t.Run(alg, func(t *testing.T) {
			reads := 0
			now := func() time.Time { reads++; return epoch }
			bs := makeBackends(t, 1, 2, 3)
			p := mustNew(t, Config{Algorithm: alg, SlowStart: time.Minute, Now: now}).Build(bs)
			countPicks(t, p, bs, nil, 100)
			if reads != 0 {
				t.Fatalf("clock read %d times with no backend ramping", reads)
			}
			bs[2].MarkAvailable(epoch)
			countPicks(t, p, bs, nil, 100)
			if reads == 0 {
				t.Fatal("clock never read with a backend ramping")
			}
		})
	}
}

// A ramping backend that is strictly the best choice (idle while the others
// are busy, or the fastest) still gets only its fraction of the picks at low
// load: the rest go to the runner-up.
func TestSlowStartRampsAStrictWinner(t *testing.T) {
	for _, alg := range []string{LeastConnections, LeastLatency} {
		t.Run(alg, func(t *testing.T) {
			clk := newFakeClock(epoch)
			bs := makeBackends(t, 1, 1, 1)
			bs[0].ObserveLatency(20*time.Millisecond, clk.Now())
			bs[1].ObserveLatency(30*time.Millisecond, clk.Now())
			bs[2].ObserveLatency(10*time.Millisecond, clk.Now())
			if alg == LeastConnections {
				bs[0].Acquire()
				bs[1].Acquire()
			}
			bs[2].MarkAvailable(clk.Now())
			clk.Advance(50 * time.Second) // fraction 0.55
			p := mustNew(t, Config{Algorithm: alg, SlowStart: 100 * time.Second, Now: clk.Now}).Build(bs)
			counts := countPicks(t, p, bs, nil, 100_000)
			if share := float64(counts[2]) / 100_000; math.Abs(share-0.55) > 0.01 {
				t.Errorf("ramping winner's share = %.4f, want 0.55 ± 0.01 (%v)", share, counts)
			}
			if alg == LeastLatency && counts[1] != 0 {
				t.Errorf("the slowest backend got %d picks; the runner-up should take them (%v)", counts[1], counts)
			}
		})
	}
}
