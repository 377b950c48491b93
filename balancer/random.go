package balancer

import (
	"net/http"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// The random strategies draw from math/rand/v2's top-level source: a
// per-thread ChaCha8 generator in the runtime, so draws are concurrency-safe,
// lock-free and allocation-free. Weighted draws use an alias table built once
// per set, O(1) per draw.

// weightedRandom picks a backend at random in proportion to its weight.
type weightedRandom struct {
	ramp ramp
}

type randomPicker struct {
	ramp  *ramp
	live  []*backend.Backend
	table aliasTable
}

// Build implements Balancer.
func (wr *weightedRandom) Build(available []*backend.Backend) Picker {
	bs := live(available)
	if bs == nil {
		return nonePicker{}
	}
	return &randomPicker{ramp: &wr.ramp, live: bs, table: newAliasTable(bs)}
}

// Pick implements Picker.
func (p *randomPicker) Pick(*http.Request) *backend.Backend {
	c := clock{now: p.ramp.now}
	for try := 1; ; try++ {
		b := p.live[p.table.pick()]
		if try == rampTries || p.ramp.accept(b, &c) {
			return b
		}
	}
}

// powerOfTwo is "power of two random choices": draw two backends in
// proportion to weight and keep the one with fewer requests in flight per
// unit of weight, the first drawn on a tie. With no load every comparison
// ties, so shares follow the weights; under load the comparison steers
// requests away from busy backends while costing two draws, not a scan.
type powerOfTwo struct {
	ramp ramp
}

// Build implements Balancer.
func (pt *powerOfTwo) Build(available []*backend.Backend) Picker {
	bs := live(available)
	if bs == nil {
		return nonePicker{}
	}
	return &p2cPicker{randomPicker{ramp: &pt.ramp, live: bs, table: newAliasTable(bs)}}
}

type p2cPicker struct {
	randomPicker
}

// Pick implements Picker.
func (p *p2cPicker) Pick(*http.Request) *backend.Backend {
	c := clock{now: p.ramp.now}
	for try := 1; ; try++ {
		a := p.live[p.table.pick()]
		if b := p.live[p.table.pick()]; b.InFlight()*int64(a.Weight()) < a.InFlight()*int64(b.Weight()) {
			a = b
		}
		if try == rampTries || p.ramp.accept(a, &c) {
			return a
		}
	}
}
