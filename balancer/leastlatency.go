package balancer

import (
	"net/http"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// leastLatency picks the backend with the lowest expected wait: its peak-EWMA
// latency (backend.Latency) times 1 + in flight / weight (with weight 1:
// latency x (in flight + 1)). Like least_connections it compares every
// backend up to 64 and 16 sampled ones past that (O(1); visit.go), and
// allocates nothing. Idle backends of equal latency tie, and ties are spread
// in proportion to weight as in least_connections.
//
// The EWMA decays towards zero while a backend gets no responses, so a
// backend that had one slow streak is not starved forever: once the others'
// fresh figures exceed its faded one, it is tried again and re-measured.
//
// A backend with no latency yet (never observed, or decayed to nothing) is
// treated as being as fast as the fastest measured one, and wins ties with
// it, so it gets requests and thereby a measurement; its in-flight count
// still counts, so a new backend is not flooded before its first answer.
type leastLatency struct {
	ramp ramp
}

type llPicker struct {
	ramp  *ramp
	live  []*backend.Backend
	start aliasTable
}

// Build implements Balancer.
func (ll *leastLatency) Build(available []*backend.Backend) Picker {
	bs := live(available)
	if bs == nil {
		return nonePicker{}
	}
	return &llPicker{ramp: &ll.ramp, live: bs, start: newAliasTable(bs)}
}

// Pick implements Picker. Weights are scaled by the slow-start fraction in
// the score, and ramp.settle applies the fraction at low load.
func (p *llPicker) Pick(*http.Request) *backend.Backend {
	now := p.ramp.now()
	c := clock{now: p.ramp.now, nanos: now.UnixNano(), read: true}
	for try := 1; ; try++ {
		if b, ok := p.ramp.settle(p.live, p.scan(now, &c), &c, try); ok {
			return b
		}
	}
}

// scan returns the two backends with the lowest expected wait, the first
// found from a random start winning ties. Measured and unmeasured backends
// are ranked apart in one pass, then merged once the fastest measured
// latency, which the unmeasured ones are credited with, is known.
func (p *llPicker) scan(now time.Time, c *clock) top2 {
	measured, unmeasured := newTop2(), newTop2()
	fastest := 0.0
	visit(&p.start, len(p.live), func(i int) {
		b := p.live[i]
		load := 1 + float64(b.InFlight())/(float64(b.Weight())*p.ramp.fraction(b, c))
		if lat := float64(b.Latency(now)); lat > 0 {
			if fastest == 0 || lat < fastest {
				fastest = lat
			}
			measured.offer(i, lat*load)
		} else {
			unmeasured.offer(i, load)
		}
	})
	if unmeasured.best < 0 {
		return measured
	}
	if measured.best < 0 {
		return unmeasured
	}
	// Unmeasured backends are offered first, so they win ties.
	t := newTop2()
	for _, u := range [...]struct {
		i int
		s float64
	}{
		{unmeasured.best, fastest * unmeasured.bestS},
		{unmeasured.second, fastest * unmeasured.secondS},
		{measured.best, measured.bestS},
		{measured.second, measured.secondS},
	} {
		if u.i >= 0 {
			t.offer(u.i, u.s)
		}
	}
	return t
}
