package gcfloor

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestPercentFor(t *testing.T) {
	for _, c := range []struct {
		floor, live uint64
		want        int
	}{
		{64 << 20, 4 << 20, 1600},  // small heap: grow by the floor
		{64 << 20, 64 << 20, 100},  // floor = live: the default pacing
		{64 << 20, 200 << 20, 100}, // large heap: never below the base
		{64 << 20, 0, 6400},        // nothing measured yet: 1 MiB assumed
		{1 << 40, 1, maxPercent},   // capped
	} {
		if got := percentFor(c.floor, c.live, 100); got != c.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", c.floor, c.live, got, c.want)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		env  map[string]string
		want uint64
		err  string
	}{
		{map[string]string{}, DefaultFloor, ""},
		{map[string]string{"SMARTPROXY_GC_FLOOR": "0"}, 0, ""},
		{map[string]string{"SMARTPROXY_GC_FLOOR": "128MiB"}, 128 << 20, ""},
		{map[string]string{"SMARTPROXY_GC_FLOOR": "1GB"}, 1 << 30, ""},
		{map[string]string{"SMARTPROXY_GC_FLOOR": "4096"}, 4096, ""},
		{map[string]string{"SMARTPROXY_GC_FLOOR": "512 KiB"}, 512 << 10, ""},
		{map[string]string{"GOGC": "200", "SMARTPROXY_GC_FLOOR": "128MiB"}, 0, ""},
		{map[string]string{"SMARTPROXY_GC_FLOOR": "lots"}, 0, `SMARTPROXY_GC_FLOOR="lots"`},
		{map[string]string{"SMARTPROXY_GC_FLOOR": "-5MiB"}, 0, `SMARTPROXY_GC_FLOOR="-5MiB"`},
		{map[string]string{"SMARTPROXY_GC_FLOOR": "99999999999999GiB"}, 0, "too large"},
	} {
		got, err := FromEnv(env(c.env))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: err %v, want one containing %q", c.env, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%v: got %d, %v; want %d", c.env, got, err, c.want)
		}
	}
}

func TestChoose(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		name    string
		env     map[string]string
		percent int
		want    uint64
		err     bool
	}{
		{"defaults: the default floor", map[string]string{}, 100, DefaultFloor, false},
		{"GOGC in the environment: the operator chose", map[string]string{"GOGC": "100"}, 100, 0, false},
		{"GOGC=off in the environment", map[string]string{"GOGC": "off"}, -1, 0, false},
		{"GOGC set in code before: left alone", map[string]string{}, 400, 0, false},
		{"GOMEMLIMIT alone does not turn it off", map[string]string{"GOMEMLIMIT": "1GiB"}, 100, DefaultFloor, false},
		{"a floor of 0: off", map[string]string{Env: "0"}, 100, 0, false},
		{"a bad floor: an error", map[string]string{Env: "lots"}, 100, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := choose(env(c.env), c.percent)
			if (err != nil) != c.err || got != c.want {
				t.Errorf("choose = %d, %v; want %d, error %v", got, err, c.want, c.err)
			}
		})
	}
}

// Ensure starts one floor per process: a second call reports the first
// one's outcome and starts nothing. A bad environment is an error and
// leaves the floor to a later call.
func TestEnsureOnce(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer func() {
		ensured.Lock()
		if ensured.stop != nil {
			ensured.stop()
		}
		ensured.done, ensured.started, ensured.stop = false, false, nil
		ensured.Unlock()
		debug.SetGCPercent(prev)
	}()
	if _, err := Ensure(func(k string) string { return map[string]string{Env: "lots"}[k] }); err == nil {
		t.Fatal("a bad SMARTPROXY_GC_FLOOR was accepted")
	}
	if currentPercent() != 100 {
		t.Fatalf("GOGC %d after a refused environment, want 100 untouched", currentPercent())
	}
	started, err := Ensure(func(string) string { return "" })
	if err != nil || !started {
		t.Fatalf("Ensure = %v, %v; want a floor started", started, err)
	}
	runtime.GC()
	after := currentPercent()
	if after <= 100 {
		t.Errorf("GOGC %d with the floor on a small heap, want above 100", after)
	}
	again, err := Ensure(func(k string) string { return map[string]string{Env: "1MiB"}[k] })
	if err != nil || !again {
		t.Errorf("second Ensure = %v, %v; want the first call's outcome", again, err)
	}
	runtime.GC()
	// A second floor of 1 MiB would pace a heap of a few hundred KiB at a
	// few hundred percent; the first one's 64 MiB keeps it far above.
	if p := currentPercent(); p < after/4 {
		t.Errorf("GOGC %d after a second Ensure asked for 1MiB, want about %d (no second floor)", p, after)
	}
}

var sink []byte

// churn allocates n bytes of short-lived garbage and returns how many
// collections ran meanwhile.
func churn(n int) uint32 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n/1024; i++ {
		sink = make([]byte, 1024)
	}
	runtime.ReadMemStats(&after)
	return after.NumGC - before.NumGC
}

// The floor makes a small heap collect far less often, and stop restores
// the previous pacing.
func TestGCFloorPacing(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 1 GiB of garbage")
	}
	const garbage = 512 << 20
	runtime.GC()
	without := churn(garbage)

	stop := Start(64 << 20)
	runtime.GC() // a first measurement of the live heap
	with := churn(garbage)
	stop()
	if prev := debug.SetGCPercent(100); prev != 100 {
		t.Errorf("GOGC after stop = %d, want the previous 100", prev)
	}
	t.Logf("collections for %d MiB of garbage: %d by default, %d with a 64 MiB floor", garbage>>20, without, with)
	// A few MiB live: GOGC=100 collects every few MiB (100+ times); the
	// floor every ~64 MiB (8 times, plus slack for the first cycles).
	if with > 16 {
		t.Errorf("with a 64 MiB floor: %d collections for 512 MiB, want at most 16", with)
	}
	if without < 3*with {
		t.Errorf("the floor did not reduce collections: %d by default, %d with it", without, with)
	}
}
