package balancer

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// roundRobin is strict rotation over the available backends, O(1) per pick:
// one atomic add on a counter that lives here, in the Balancer, so it
// survives every rebuild.
//
// Rotation stays strict when the set changes: Build aligns the new picker so
// that the next pick is the backend after the last one picked (in configured
// order), not the first backend again. Without that, a pool whose
// availability flaps would send the first backend more than its share.
// Picks that race with Build (made on the old picker after Build read the
// counter) may shift the rotation by those few picks.
type roundRobin struct {
	next atomic.Uint64
	ramp ramp

	mu   sync.Mutex // serialises Build
	prev *rrPicker  // the last picker built; guarded by mu
}

type rrPicker struct {
	rr   *roundRobin
	live []*backend.Backend
	// off aligns the shared counter with this set: counter value c picks
	// live[(c+off) % len(live)].
	off uint64
}

// Build implements Balancer.
func (rr *roundRobin) Build(available []*backend.Backend) Picker {
	bs := live(available)
	if bs == nil {
		return nonePicker{}
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	n := uint64(len(bs))
	c := rr.next.Load()
	start := c % n
	if rr.prev != nil && c > 0 {
		if j, ok := successor(rr.prev.at(c-1), rr.prev.live, bs); ok {
			start = uint64(j)
		}
	}
	p := &rrPicker{rr: rr, live: bs, off: (start + n - c%n) % n}
	rr.prev = p
	return p
}

// successor returns the index in next of the backend that should follow last,
// which was picked from prev: the one after last if last is still in next,
// else the first backend that followed last in prev and is in next.
func successor(last *backend.Backend, prev, next []*backend.Backend) (int, bool) {
	index := make(map[*backend.Backend]int, len(next))
	for i, b := range next {
		index[b] = i
	}
	if i, ok := index[last]; ok {
		return (i + 1) % len(next), true
	}
	at := -1
	for i, b := range prev {
		if b == last {
			at = i
			break
		}
	}
	if at < 0 {
		return 0, false
	}
	for s := 1; s < len(prev); s++ {
		if i, ok := index[prev[(at+s)%len(prev)]]; ok {
			return i, true
		}
	}
	return 0, false
}

func (p *rrPicker) at(c uint64) *backend.Backend {
	return p.live[(c+p.off)%uint64(len(p.live))]
}

// Pick implements Picker.
func (p *rrPicker) Pick(*http.Request) *backend.Backend {
	c := clock{now: p.rr.ramp.now}
	for try := 1; ; try++ {
		b := p.at(p.rr.next.Add(1) - 1)
		if try == rampTries || p.rr.ramp.accept(b, &c) {
			return b
		}
	}
}
