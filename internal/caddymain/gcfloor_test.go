package caddymain

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

func TestGCFloorFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		env  map[string]string
		want uint64
		err  string
	}{
		{map[string]string{}, defaultGCFloor, ""},
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
		got, err := gcFloorFromEnv(env(c.env))
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

	stop := startGCFloor(64 << 20)
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
