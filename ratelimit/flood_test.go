package ratelimit

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

// heapAfterGC returns the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// floodKeys is how many distinct keys the flood tests send: 1,000,000, or
// 200,000 under -race, to keep the package's -race run near 3 s rather than
// 6 s on a shared 2-core machine. Either way it is many times MaxKeys.
func floodKeys() int {
	if raceEnabled {
		return 200_000
	}
	return 1_000_000
}

// floodHeapLimit is the live heap, in bytes, that a full store of 100,000
// keys of 23 bytes must stay under: about 210 bytes per key, against 135
// measured (13 MiB) with Go 1.26 on linux/amd64.
const floodHeapLimit = 20 << 20

// TestFloodStaysBounded sends a million distinct keys, one per microsecond,
// into a store of 100,000. Buckets refill in 10ms, so by the time a shard is
// full its least-recently-used buckets are full and evictable: the store
// turns over without ever holding more than MaxKeys keys.
func TestFloodStaysBounded(t *testing.T) {
	const maxKeys = 100_000
	n := floodKeys()
	base := heapAfterGC()
	l := mustNew(t, Settings{RequestsPerSecond: 100, Burst: 10, MaxKeys: maxKeys})
	buf := []byte("client-203.0.113.")
	for i := range n {
		key := string(strconv.AppendInt(buf[:17], int64(i), 10))
		if !l.Allow(key, t0.Add(time.Duration(i)*time.Microsecond)).Allowed {
			t.Fatalf("new key %d refused: a fresh key must get its burst", i)
		}
		if i%100_000 == 0 && l.Keys() > maxKeys {
			t.Fatalf("after %d keys: Keys() = %d > %d", i, l.Keys(), maxKeys)
		}
	}
	keys, ev, of := l.Keys(), l.Evictions(), l.Overflowed()
	if keys != maxKeys {
		t.Errorf("Keys() = %d, want %d (full)", keys, maxKeys)
	}
	if uint64(keys)+ev+of != uint64(n) || ev < uint64(n-maxKeys)*9/10 {
		t.Errorf("Keys %d + Evictions %d + Overflowed %d != %d keys sent, or too few evictions", keys, ev, of, n)
	}
	heap := heapAfterGC() - base
	runtime.KeepAlive(l)
	t.Logf("%d keys sent: Keys %d, Evictions %d, Overflowed %d, live heap %.1f MiB (%d B/key)",
		n, keys, ev, of, float64(heap)/(1<<20), heap/uint64(keys))
	if heap > floodHeapLimit {
		t.Errorf("live heap grew by %d bytes, want under %d", heap, floodHeapLimit)
	}
}

// TestFloodAtOneInstant sends the same flood at a single instant, so no
// bucket ever refills: nothing may be evicted, and every key past the first
// MaxKeys shares the overflow bucket, which lets through one burst in all.
func TestFloodAtOneInstant(t *testing.T) {
	const maxKeys = 100_000
	n := floodKeys()
	base := heapAfterGC()
	l := mustNew(t, Settings{RequestsPerSecond: 100, Burst: 10, MaxKeys: maxKeys})
	buf := []byte("client-198.51.100.")
	allowed := 0
	for i := range n {
		if l.Allow(string(strconv.AppendInt(buf[:18], int64(i), 10)), t0).Allowed {
			allowed++
		}
	}
	if got := l.Keys(); got > maxKeys {
		t.Fatalf("Keys() = %d > MaxKeys %d", got, maxKeys)
	}
	// Shards hold their exact share only when the hash spreads keys
	// perfectly; the rest of the stored ones plus 10 overflow requests pass.
	stored := l.Keys()
	if l.Evictions() != 0 || allowed != stored+10 || uint64(n-stored) != l.Overflowed() {
		t.Fatalf("allowed %d, Keys %d, Evictions %d, Overflowed %d; want allowed = Keys+10, no evictions",
			allowed, stored, l.Evictions(), l.Overflowed())
	}
	if stored < maxKeys*99/100 {
		t.Errorf("Keys() = %d: shards filled unevenly (want at least 99%% of %d)", stored, maxKeys)
	}
	heap := heapAfterGC() - base
	runtime.KeepAlive(l)
	if heap > floodHeapLimit {
		t.Errorf("live heap grew by %d bytes, want under %d", heap, floodHeapLimit)
	}
}
