package balancer

import (
	"testing"
	"time"
)

func TestLeastLatencyChoice(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		weights  []int
		latency  []time.Duration // 0: never observed
		inFlight []int
		want     int
	}{
		{name: "fastest when idle", latency: []time.Duration{50 * ms, 10 * ms, 100 * ms}, inFlight: []int{0, 0, 0}, want: 1},
		{name: "fast but busy", latency: []time.Duration{50 * ms, 10 * ms, 100 * ms}, inFlight: []int{0, 9, 0}, want: 0},
		{name: "unmeasured is tried", latency: []time.Duration{10 * ms, 0, 20 * ms}, inFlight: []int{0, 0, 0}, want: 1},
		{name: "unmeasured but loaded", latency: []time.Duration{10 * ms, 0}, inFlight: []int{0, 1}, want: 0},
		{name: "unmeasured counts as fastest", latency: []time.Duration{10 * ms, 0, 5 * ms}, inFlight: []int{2, 2, 3}, want: 1},
		{name: "unmeasured no better than fastest", latency: []time.Duration{10 * ms, 0, 5 * ms}, inFlight: []int{0, 2, 3}, want: 0},
		{name: "weight carries load", weights: []int{4, 1}, latency: []time.Duration{10 * ms, 10 * ms}, inFlight: []int{2, 1}, want: 0},
		{name: "all unmeasured: least loaded", latency: []time.Duration{0, 0, 0}, inFlight: []int{2, 1, 3}, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock(epoch)
			ws := tc.weights
			if ws == nil {
				ws = equalWeights(len(tc.latency))
			}
			bs := makeBackends(t, ws...)
			for i, d := range tc.latency {
				if d > 0 {
					bs[i].ObserveLatency(d, clk.Now())
				}
				for range tc.inFlight[i] {
					bs[i].Acquire()
				}
			}
			p := mustNew(t, Config{Algorithm: LeastLatency, Now: clk.Now}).Build(bs)
			for range 50 {
				if got := p.Pick(nil); got != bs[tc.want] {
					t.Fatalf("picked %s, want %s", got.Name, bs[tc.want].Name)
				}
			}
		})
	}
}

// A backend that had a slow streak is avoided while its figure is high, but
// the figure fades without new observations, so it is tried again.
func TestLeastLatencySlowStreakFades(t *testing.T) {
	clk := newFakeClock(epoch)
	bs := makeBackends(t, 1, 1)
	fast, slow := bs[0], bs[1]
	slow.ObserveLatency(time.Second, clk.Now())
	fast.ObserveLatency(10*time.Millisecond, clk.Now())
	p := mustNew(t, Config{Algorithm: LeastLatency, Now: clk.Now}).Build(bs)
	var retried time.Duration
	for elapsed := time.Duration(0); elapsed <= 2*time.Minute; elapsed += time.Second {
		// The fast backend keeps serving and being measured.
		fast.ObserveLatency(10*time.Millisecond, clk.Now())
		if p.Pick(nil) == slow {
			retried = elapsed
			break
		}
		clk.Advance(time.Second)
	}
	// 1s decays below 10ms after ln(100) x 10s, about 46s.
	if retried < 40*time.Second || retried > 50*time.Second {
		t.Fatalf("slow backend retried after %v, want about 46s", retried)
	}
}

// Load steers around a fast backend: held picks spread so that the
// expected waits even out rather than all landing on the fastest.
func TestLeastLatencySpreadsHeldLoad(t *testing.T) {
	clk := newFakeClock(epoch)
	bs := makeBackends(t, 1, 1)
	bs[0].ObserveLatency(10*time.Millisecond, clk.Now())
	bs[1].ObserveLatency(20*time.Millisecond, clk.Now())
	p := mustNew(t, Config{Algorithm: LeastLatency, Now: clk.Now}).Build(bs)
	for range 300 {
		p.Pick(nil).Acquire()
	}
	// Waits equal when 10ms x (a+1) = 20ms x (b+1): a ≈ 200, b ≈ 100.
	if a, b := bs[0].InFlight(), bs[1].InFlight(); a < 198 || a > 202 || b < 98 || b > 102 {
		t.Fatalf("in flight %d and %d, want about 200 and 100", a, b)
	}
}
