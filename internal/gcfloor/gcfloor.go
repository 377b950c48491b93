// Package gcfloor paces Go's garbage collector for a proxy's heap.
//
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
// off); a GOGC in the environment, or a GOGC other than the default set by
// the program before the floor starts, means someone chose the pacing, and
// the floor stays off. A memory limit (GOMEMLIMIT, debug.SetMemoryLimit) is
// never touched: near the limit the runtime collects whatever GOGC says.
//
// The collector is process-wide, so the floor is too: Ensure starts it at
// most once per process, whoever calls it first (the plugin's Provision in
// an xcaddy build, the main of cmd/smartproxy before Caddy starts).
package gcfloor

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

const (
	// DefaultFloor is the floor when SMARTPROXY_GC_FLOOR is unset.
	DefaultFloor = 64 << 20
	// Env names the environment variable that sets the floor.
	Env         = "SMARTPROXY_GC_FLOOR"
	basePercent = 100
	// maxPercent bounds GOGC whatever the live heap: a nearly empty heap
	// would otherwise ask for an absurd percentage.
	maxPercent = 100_000
)

// ensured guards Ensure: the one piece of process-wide state here, because
// the collector it paces is process-wide.
var ensured struct {
	sync.Mutex
	done    bool
	started bool
	stop    func() // the floor Ensure started; tests stop it
}

// Ensure starts the floor the environment asks for (see FromEnv), once per
// process; later calls report what the first did. It reports whether a
// floor runs, and an error for a SMARTPROXY_GC_FLOOR that is not a size
// (the floor then stays off). It leaves the pacing alone when GOGC is in
// the environment or the program already set a GOGC other than 100.
func Ensure(getenv func(string) string) (started bool, err error) {
	ensured.Lock()
	defer ensured.Unlock()
	if ensured.done {
		return ensured.started, nil
	}
	floor, err := choose(getenv, currentPercent())
	if err != nil {
		return false, err // not done: a corrected environment may try again
	}
	ensured.done = true
	if floor > 0 {
		ensured.stop = Start(floor)
		ensured.started = true
	}
	return ensured.started, nil
}

// choose is the floor to start given the environment and the GOGC the
// runtime has now; 0 means none.
func choose(getenv func(string) string, percent int) (uint64, error) {
	floor, err := FromEnv(getenv)
	if err != nil || floor == 0 {
		return 0, err
	}
	if percent != basePercent {
		return 0, nil // set in code (debug.SetGCPercent): someone chose
	}
	return floor, nil
}

// currentPercent reads GOGC as the runtime has it now.
func currentPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return basePercent
	}
	return int(s[0].Value.Uint64())
}

// gcFloor re-sets GOGC after each collection.
type gcFloor struct {
	floor   uint64
	prev    int // GOGC before the floor started, restored by stop
	percent int
	stopped atomic.Bool
	sample  []metrics.Sample
}

// Start paces the collector with the given floor (bytes) and returns a
// stop function that restores the previous GOGC. Unlike Ensure it checks
// nothing and may start a second floor: tests and Ensure use it.
func Start(floor uint64) (stop func()) {
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

// FromEnv reads the floor the environment asks for; 0 means off (GOGC is
// set, or SMARTPROXY_GC_FLOOR=0).
func FromEnv(getenv func(string) string) (uint64, error) {
	if getenv("GOGC") != "" {
		return 0, nil
	}
	v := strings.TrimSpace(getenv(Env))
	if v == "" {
		return DefaultFloor, nil
	}
	n, err := parseSize(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %v (want a size such as 64MiB, or 0 to turn the floor off)", Env, v, err)
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
