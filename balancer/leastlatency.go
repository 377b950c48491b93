package balancer

import (
	"net/http"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// leastLatency picks the backend with the lowest expected wait: its peak-EWMA
// latency (backend.Latency) times 1 + in flight / weight (with weight 1:
// latency x (in flight + 1)). O(n) per pick, like least_connections, and
// allocation-free. Idle backends of equal latency tie, and ties are spread
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

// Pick implements Picker. Weights are scaled by the slow-start fraction, and
// a ramping winner stands with probability equal to it, else the scan is
// redone from a new random start (as in least_connections).
func (p *llPicker) Pick(*http.Request) *backend.Backend {
	now := p.ramp.now()
	c := clock{now: p.ramp.now, nanos: now.UnixNano(), read: true}
	for try := 1; ; try++ {
		b := p.scan(now, &c)
		if try == rampTries || p.ramp.accept(b, &c) {
			return b
		}
	}
}

// scan returns the backend with the lowest expected wait, the first found
// from a random start.
func (p *llPicker) scan(now time.Time, c *clock) *backend.Backend {
	n := len(p.live)
	measured, unmeasured := -1, -1
	var measuredScore, unmeasuredLoad, fastest float64
	i := p.start.pick()
	for range n {
		b := p.live[i]
		load := 1 + float64(b.InFlight())/(float64(b.Weight)*p.ramp.fraction(b, c))
		if lat := float64(b.Latency(now)); lat > 0 {
			if measured < 0 || lat < fastest {
				fastest = lat
			}
			if score := lat * load; measured < 0 || score < measuredScore {
				measured, measuredScore = i, score
			}
		} else if unmeasured < 0 || load < unmeasuredLoad {
			unmeasured, unmeasuredLoad = i, load
		}
		if i++; i == n {
			i = 0
		}
	}
	switch {
	case unmeasured < 0:
		return p.live[measured]
	case measured < 0 || fastest*unmeasuredLoad <= measuredScore:
		return p.live[unmeasured]
	default:
		return p.live[measured]
	}
}
