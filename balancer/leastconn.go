package balancer

import (
	"net/http"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// leastConnections picks the backend with the fewest requests in flight per
// unit of weight (with equal weights: the fewest in flight). Up to 64
// backends it compares every one, exactly; past that, 16 drawn at random in
// proportion to weight, so a pick stays O(1) (see visit.go). The scan reads
// atomics only and allocates nothing.
//
// Ties are common (an idle pool is all ties), so the scan starts at a random
// backend drawn in proportion to weight and the first minimum from there
// wins: an idle pool is spread by weight rather than always sending to the
// first backend.
type leastConnections struct {
	ramp ramp
}

type lcPicker struct {
	ramp  *ramp
	live  []*backend.Backend
	start aliasTable
}

// Build implements Balancer.
func (lc *leastConnections) Build(available []*backend.Backend) Picker {
	bs := live(available)
	if bs == nil {
		return nonePicker{}
	}
	return &lcPicker{ramp: &lc.ramp, live: bs, start: newAliasTable(bs)}
}

// Pick implements Picker.
func (p *lcPicker) Pick(*http.Request) *backend.Backend {
	c := clock{now: p.ramp.now}
	for try := 1; ; try++ {
		if b, ok := p.ramp.settle(p.live, p.scan(&c), &c, try); ok {
			return b
		}
	}
}

// scan returns the two least loaded backends, the first found from a
// random start winning ties. Weights are scaled by the slow-start fraction,
// which holds a ramping backend to a proportionally smaller load.
func (p *lcPicker) scan(c *clock) top2 {
	t := newTop2()
	visit(&p.start, len(p.live), func(i int) {
		b := p.live[i]
		t.offer(i, float64(b.InFlight())/(float64(b.Weight())*p.ramp.fraction(b, c)))
	})
	return t
}

// top2 keeps the two lowest scores offered; the earlier offer wins a tie.
type top2 struct {
	best, second   int // indices; -1 when not yet offered
	bestS, secondS float64
}

func newTop2() top2 { return top2{best: -1, second: -1} }

func (t *top2) offer(i int, score float64) {
	switch {
	case t.best < 0 || score < t.bestS:
		t.second, t.secondS = t.best, t.bestS
		t.best, t.bestS = i, score
	case t.second < 0 || score < t.secondS:
		t.second, t.secondS = i, score
	}
}
