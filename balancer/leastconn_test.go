package balancer

import (
	"testing"
)

func TestLeastConnectionsPicksTheIdleBackend(t *testing.T) {
	for _, idle := range []int{0, 1, 2, 3} {
		bs := makeBackends(t, 1, 1, 1, 1)
		for i, b := range bs {
			if i != idle {
				b.Acquire()
			}
		}
		p := mustNew(t, Config{Algorithm: LeastConnections}).Build(bs)
		for range 100 {
			if got := p.Pick(nil); got != bs[idle] {
				t.Fatalf("idle backend %d: picked %s", idle, got.Name)
			}
		}
	}
}

// Load is compared per unit of weight.
func TestLeastConnectionsIsWeighted(t *testing.T) {
	tests := []struct {
		name     string
		weights  []int
		inFlight []int
		want     int
	}{
		{name: "fewest in flight", weights: []int{1, 1, 1}, inFlight: []int{3, 1, 2}, want: 1},
		{name: "heavier carries more", weights: []int{4, 1}, inFlight: []int{3, 1}, want: 0},
		{name: "heavier but too busy", weights: []int{4, 1}, inFlight: []int{5, 1}, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bs := makeBackends(t, tc.weights...)
			for i, n := range tc.inFlight {
				for range n {
					bs[i].Acquire()
				}
			}
			p := mustNew(t, Config{Algorithm: LeastConnections}).Build(bs)
			for range 100 {
				if got := p.Pick(nil); got != bs[tc.want] {
					t.Fatalf("picked %s, want %s", got.Name, bs[tc.want].Name)
				}
			}
		})
	}
}

// An idle pool is all ties: they are spread in proportion to weight, not
// all sent to the first backend.
func TestLeastConnectionsSpreadsTies(t *testing.T) {
	for _, ws := range [][]int{{1, 1, 1}, {3, 1}, {1, 2, 7}} {
		t.Run(weightsName(ws), func(t *testing.T) {
			bs := makeBackends(t, ws...)
			p := mustNew(t, Config{Algorithm: LeastConnections}).Build(bs)
			checkShares(t, countPicks(t, p, bs, nil, 200_000), ws, 0.01)
		})
	}
}

// Held picks fill the backends evenly per unit of weight: least
// connections keeps in-flight counts within one request of the ideal.
func TestLeastConnectionsBalancesHeldLoad(t *testing.T) {
	ws := []int{1, 3, 2, 1}
	bs := makeBackends(t, ws...)
	p := mustNew(t, Config{Algorithm: LeastConnections}).Build(bs)
	for range 700 {
		p.Pick(nil).Acquire()
	}
	for i, b := range bs {
		if want := int64(100 * ws[i]); b.InFlight() < want-1 || b.InFlight() > want+1 {
			t.Errorf("backend %d (weight %d): %d in flight, want %d ± 1", i, ws[i], b.InFlight(), want)
		}
	}
}
