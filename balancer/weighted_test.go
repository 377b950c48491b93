package balancer

import (
	"strconv"
	"strings"
	"testing"
)

func TestWeightedRoundRobinIsSmooth(t *testing.T) {
	tests := []struct {
		weights []int
		cycle   string
	}{
		{weights: []int{5, 1, 1}, cycle: "aabacaa"},
		{weights: []int{1, 2}, cycle: "bab"},
		{weights: []int{10, 20}, cycle: "bab"}, // reduced by the gcd
		{weights: []int{1, 1, 1}, cycle: "abc"},
		{weights: []int{3, 2}, cycle: "ababa"},
		{weights: []int{4, 2, 1}, cycle: "abacaba"},
	}
	for _, tc := range tests {
		t.Run(weightsName(tc.weights), func(t *testing.T) {
			bs := makeBackends(t, tc.weights...)
			p := mustNew(t, Config{Algorithm: WeightedRoundRobin}).Build(bs)
			if got, want := sequence(p, letterMap(bs), 3*len(tc.cycle)), strings.Repeat(tc.cycle, 3); got != want {
				t.Fatalf("sequence = %s, want %s", got, want)
			}
		})
	}
}

func weightsName(ws []int) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = strconv.Itoa(w)
	}
	return strings.Join(parts, ":")
}

// Over any whole number of cycles each backend's share equals its weight
// exactly, and picks of one backend are spread (no run longer than its
// weight ratio needs).
func TestWeightedRoundRobinExactShares(t *testing.T) {
	for _, ws := range [][]int{{1, 2}, {5, 1, 1}, {7, 3, 2, 1}, {100, 1}, {13, 17, 19, 23}} {
		t.Run(weightsName(ws), func(t *testing.T) {
			bs := makeBackends(t, ws...)
			total := 0
			g := 0
			for _, w := range ws {
				total += w
				g = gcd(g, w)
			}
			cycle := total / g
			p := mustNew(t, Config{Algorithm: WeightedRoundRobin}).Build(bs)
			counts := countPicks(t, p, bs, nil, 4*cycle)
			for i, w := range ws {
				if want := 4 * w / g; counts[i] != want {
					t.Errorf("backend %d (weight %d): %d picks in 4 cycles, want %d", i, w, counts[i], want)
				}
			}
		})
	}
}

// Weights whose cycle would exceed maxCycle are scaled down: the schedule
// stays bounded, every backend keeps a slot, and shares stay close.
func TestWeightedRoundRobinCapsTheCycle(t *testing.T) {
	ws := []int{1_000_000, 499_999, 1}
	bs := makeBackends(t, ws...)
	p := mustNew(t, Config{Algorithm: WeightedRoundRobin}).Build(bs).(*wrrPicker)
	if n := len(p.schedule); n > maxCycle(len(bs)) {
		t.Fatalf("schedule has %d slots, more than maxCycle %d", n, maxCycle(len(bs)))
	}
	counts := countPicks(t, p, bs, nil, len(p.schedule))
	if counts[2] < 1 {
		t.Errorf("the weight-1 backend lost its slot: %v", counts)
	}
	if ratio := float64(counts[0]) / float64(counts[1]); ratio < 1.99 || ratio > 2.01 {
		t.Errorf("share ratio of weights 1000000:499999 = %.4f, want about 2 (%v)", ratio, counts)
	}
}

func TestMaxCycle(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{1, 1 << 14}, {2, 1 << 14}, {256, 1 << 14}, {1000, 4194}, {5000, 5000},
	} {
		if got := maxCycle(tc.n); got != tc.want {
			t.Errorf("maxCycle(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// The counter lives in the Balancer: rebuilding with the same set continues
// the cycle instead of restarting it at the heaviest backend.
func TestWeightedRoundRobinContinuesAcrossRebuilds(t *testing.T) {
	bs := makeBackends(t, 5, 1, 1)
	letters := letterMap(bs)
	bal := mustNew(t, Config{Algorithm: WeightedRoundRobin})
	var got []string
	for range 14 {
		got = append(got, sequence(bal.Build(bs), letters, 1))
	}
	if s, want := strings.Join(got, ""), "aabacaaaabacaa"; s != want {
		t.Fatalf("sequence with a rebuild before every pick = %s, want %s", s, want)
	}
}
