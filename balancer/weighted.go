package balancer

import (
	"net/http"
	"sync/atomic"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// weightedRoundRobin is smooth weighted round robin (nginx's algorithm: each
// step every backend gains its weight, the richest is picked and pays the
// total), so weights 5:1:1 give a a b a c a a rather than a a a a a b c.
//
// Build runs the algorithm once for a full cycle (weights divided by their
// gcd; the cycle is their sum) and stores the schedule; Pick indexes it with
// an atomic counter kept in the Balancer: O(1), lock-free, and over a full
// cycle each backend's share equals its weight exactly.
//
// Beyond maxCycle(n) slots the weights are scaled down proportionally (each
// keeps at least 1) before the schedule is built, so shares are then exact
// to within one slot per backend; this bounds both the schedule's memory and
// Build's O(cycle x n) work.
type weightedRoundRobin struct {
	next atomic.Uint64
	ramp ramp
}

type wrrPicker struct {
	wrr      *weightedRoundRobin
	schedule []*backend.Backend
}

// maxCycle is the longest schedule Build makes for n backends: 16,384 slots,
// fewer when n is large so Build stays within about 4M steps, but never
// fewer than n, so every backend keeps a slot.
func maxCycle(n int) int {
	c := min(1<<14, (1<<22)/max(n, 1))
	return max(c, n)
}

// Build implements Balancer.
func (w *weightedRoundRobin) Build(available []*backend.Backend) Picker {
	bs := live(available)
	if bs == nil {
		return nonePicker{}
	}
	return &wrrPicker{wrr: w, schedule: smoothSchedule(bs, cycleWeights(bs))}
}

// cycleWeights returns the weights one cycle uses: the configured ones
// divided by their gcd and, if their sum exceeds maxCycle, scaled down.
func cycleWeights(bs []*backend.Backend) []int {
	g := 0
	for _, b := range bs {
		g = gcd(g, b.Weight())
	}
	ws := make([]int, len(bs))
	sum := 0
	for i, b := range bs {
		ws[i] = b.Weight() / g
		sum += ws[i]
	}
	limit := maxCycle(len(bs))
	if sum <= limit {
		return ws
	}
	// Leave room for the at-least-one floor of every backend.
	budget := float64(limit - len(bs))
	for i := range ws {
		ws[i] = 1 + int(float64(ws[i])*budget/float64(sum))
	}
	return ws
}

// smoothSchedule runs smooth weighted round robin for one cycle.
func smoothSchedule(bs []*backend.Backend, ws []int) []*backend.Backend {
	total := 0
	for _, w := range ws {
		total += w
	}
	current := make([]int, len(bs))
	schedule := make([]*backend.Backend, total)
	for step := range schedule {
		best := 0
		for i, w := range ws {
			current[i] += w
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		schedule[step] = bs[best]
	}
	return schedule
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Pick implements Picker.
func (p *wrrPicker) Pick(*http.Request) *backend.Backend {
	c := clock{now: p.wrr.ramp.now}
	n := uint64(len(p.schedule))
	for try := 1; ; try++ {
		b := p.schedule[(p.wrr.next.Add(1)-1)%n]
		if try == rampTries || p.wrr.ramp.accept(b, &c) {
			return b
		}
	}
}
