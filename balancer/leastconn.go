package balancer

import (
	"net/http"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// leastConnections picks the backend with the fewest requests in flight per
// unit of weight (with equal weights: the fewest in flight). It scans every
// backend, O(n) per pick, which is fine for pools of the usual size and keeps
// the answer exact; the scan reads atomics only and allocates nothing.
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

// Pick implements Picker. A ramping winner stands with probability equal
// to its slow-start fraction, else the scan is redone from a new random
// start: that is what ramps it at low load, where every backend ties.
func (p *lcPicker) Pick(*http.Request) *backend.Backend {
	c := clock{now: p.ramp.now}
	for try := 1; ; try++ {
		b := p.scan(&c)
		if try == rampTries || p.ramp.accept(b, &c) {
			return b
		}
	}
}

// scan returns the least loaded backend, the first found from a random
// start. Comparisons are cross-multiplied (a.in x b.weight against b.in x
// a.weight), so no division is needed; weights are scaled by the slow-start
// fraction, which holds a ramping backend to a proportionally smaller load.
func (p *lcPicker) scan(c *clock) *backend.Backend {
	n := len(p.live)
	best := -1
	var bestIn, bestW float64
	i := p.start.pick()
	for range n {
		b := p.live[i]
		in := float64(b.InFlight())
		w := float64(b.Weight) * p.ramp.fraction(b, c)
		if best < 0 || in*bestW < bestIn*w {
			best, bestIn, bestW = i, in, w
		}
		if i++; i == n {
			i = 0
		}
	}
	return p.live[best]
}
