package caddymain

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
)

// A proxy's live heap is small (a few MiB for a handful of routes) while
// every request leaves garbage behind (~7 KiB through Caddy's server and
// this handler). With Go's default GOGC=100 the collector then runs each
// time the heap doubles from ~4 MiB: every ~150 ms at 4,000 requests/s on
// one connection, and each cycle's stop-the-world phases and mark work
// land on the requests in flight. Measured on the 2-core bench machine
// (wrk -c1): p99 1.2 ms with the default, 0.4 ms with the collector off.
//
// The GC floor keeps the default pacing for large heaps and only refuses to
// collect before the heap has grown by at least the floor: after every
// collection GOGC is set to max(100, floor/live×100). With a 64 MiB floor a
// 4 MiB live heap collects every ~64 MiB of garbage instead of every 4 MiB;
// a 200 MiB live heap (10,000 open connections) is paced exactly as by
// GOGC=100. The cost is at most the floor in extra heap. Caddy's memory
// limit (GOMEMLIMIT, set from the cgroup or the system's memory) still
// applies and wins near the limit.
//
// SMARTPROXY_GC_FLOOR sets the floor ("64MiB" by default, "0" turns it
// off); a GOGC in the environment means the operator chose the pacing, and
// the floor stays off.

const (
	defaultGCFloor = 64 << 20
	gcFloorEnv     = "SMARTPROXY_GC_FLOOR"
	basePercent    = 100
	// maxPercent bounds GOGC whatever the live heap: a nearly empty heap
	// would otherwise ask for an absurd percentage.
	maxPercent = 100_000
)

// gcFloor re-sets GOGC after each collection.
type gcFloor struct {
	floor   uint64
	prev    int // GOGC before the floor started, restored by stop
	percent int
	stopped atomic.Bool
	sample  []metrics.Sample
}

// startGCFloor starts pacing the collector with the given floor (bytes)
// and returns a stop function that restores the previous GOGC.
func startGCFloor(floor uint64) (stop func()) {
	g := &gcFloor{
		floor:  floor,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}},
	}
	g.prev = debug.SetGCPercent(basePercent)
	g.percent = basePercent
	g.adjust()
	g.arm()
	return func() {
		if g.stopped.CompareAndSwap(false, true) {
			debug.SetGCPercent(g.prev)
		}
	}
}

// sentinel is allocated for its finalizer, which runs after the collection
// that found it unreachable. It holds a pointer so that it is never a
// tiny allocation (whose finalizer might not run).
type sentinel struct{ g *gcFloor }

// arm sets up the next adjustment: after the next collection.
func (g *gcFloor) arm() {
	s := &sentinel{g: g}
	runtime.SetFinalizer(s, func(s *sentinel) {
		if s.g.stopped.Load() {
			return
		}
		s.g.adjust()
		s.g.arm()
	})
}

// adjust sets GOGC from the live heap the last collection measured.
func (g *gcFloor) adjust() {
	metrics.Read(g.sample)
	live := uint64(0)
	if g.sample[0].Value.Kind() == metrics.KindUint64 {
		live = g.sample[0].Value.Uint64()
	}
	if p := percentFor(g.floor, live, basePercent); p != g.percent {
		debug.SetGCPercent(p)
		g.percent = p
	}
}

// percentFor is the GOGC that lets a heap of live bytes grow by at least
// floor before the next collection, and never below base.
func percentFor(floor, live uint64, base int) int {
	if live == 0 {
		live = 1 << 20
	}
	p := float64(floor) * 100 / float64(live)
	if p <= float64(base) {
		return base
	}
	return int(math.Min(p, maxPercent))
}

// gcFloorFromEnv reads the floor the environment asks for; 0 means off.
func gcFloorFromEnv(getenv func(string) string) (uint64, error) {
	if getenv("GOGC") != "" {
		return 0, nil
	}
	v := strings.TrimSpace(getenv(gcFloorEnv))
	if v == "" {
		return defaultGCFloor, nil
	}
	n, err := parseSize(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %v (want a size such as 64MiB, or 0 to turn the floor off)", gcFloorEnv, v, err)
	}
	return n, nil
}

// parseSize reads a byte count with an optional B, KiB, MiB or GiB suffix
// (KB, MB, GB are read as the binary units too).
func parseSize(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   uint64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
	}
	mult := uint64(1)
	num := s
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)) {
			mult = u.mult
			num = strings.TrimSpace(s[:len(s)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a size")
	}
	if n > math.MaxUint64/mult {
		return 0, fmt.Errorf("too large")
	}
	return n * mult, nil
}
