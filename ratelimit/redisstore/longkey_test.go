package redisstore

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/ratelimit"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// longKey is a key of n bytes ending in i.
func longKey(n, i int) string {
	tail := strconv.Itoa(i)
	return strings.Repeat("k", n-len(tail)) + tail
}

// TestLongKeysAreHashedInRedis sends 20 KB keys through two Stores: each
// long key must be one bucket shared by both instances, keys differing
// only in the last byte must be two, and no key Redis holds may be longer
// than KeyPrefix and 66 bytes.
func TestLongKeysAreHashedInRedis(t *testing.T) {
	r := redistest.Start(t)
	s := exact(0.01, 3)
	s.KeyPrefix = "test:long:"
	a, b := newTestStore(t, r, s), newTestStore(t, r, s)
	k1, k2 := longKey(20<<10, 1), longKey(20<<10, 2)
	for i := range 3 {
		if !mustAllow(t, [2]*Store{a, b}[i%2], k1) {
			t.Fatalf("request %d for the first long key refused", i)
		}
	}
	if mustAllow(t, b, k1) || mustAllow(t, a, k1) {
		t.Fatal("a long key's bucket is not shared between instances")
	}
	if !mustAllow(t, b, k2) {
		t.Fatal("a long key differing in its last byte shares another's bucket")
	}
	keys, err := r.Admin.Keys(context.Background(), s.KeyPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("Redis holds %d keys, want 2: %.200q", len(keys), keys)
	}
	for _, k := range keys {
		if len(k) != len(s.KeyPrefix)+len(hashSuffix)+64 || !strings.HasPrefix(k, s.KeyPrefix+hashSuffix) {
			t.Fatalf("Redis key of %d bytes, %.80q...: want the prefix, %q and a SHA-256 in hex", len(k), k, hashSuffix)
		}
	}
	if b.Keys() != 2 {
		t.Fatalf("lease table holds %d keys, want 2", b.Keys())
	}
}

// TestBinaryKeysAreDistinct checks that short keys are used byte for byte:
// Redis keys are binary-safe, and no byte (NUL, CR, LF, invalid UTF-8) is
// special.
func TestBinaryKeysAreDistinct(t *testing.T) {
	r := redistest.Start(t)
	s := exact(0.01, 1)
	a, b := newTestStore(t, r, s), newTestStore(t, r, s)
	keys := []string{"", "\x00", "\x00\x00", "a\r\nb", "a\nb", "\xff\xfe", " ", "k:x", longKey(ratelimit.MaxKeyBytes, 0)}
	for _, k := range keys {
		if !mustAllow(t, a, k) {
			t.Fatalf("key %q refused at its first request: it shares another key's bucket", k)
		}
	}
	for _, k := range keys {
		if mustAllow(t, b, k) {
			t.Fatalf("key %q admitted twice from a bucket of 1", k)
		}
	}
}

// TestLongKeysCostLittleLocally is the memory attack on the lease table:
// 6,000 keys of 20 KB must cost what short keys cost, in the lease table
// and in the Redis keys the entries hold.
func TestLongKeysCostLittleLocally(t *testing.T) {
	const n, size = 6_000, 20 << 10
	f := &fakeRedis{reply: plenty}
	st := newFakeStore(t, seed, f, newFakeClock())
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	buf := []byte(longKey(size, 0))
	for i := range n {
		tail := strconv.AppendInt(nil, int64(i), 10)
		allow(t, st, string(append(buf[:size-len(tail)], tail...)))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(st)
	if st.Keys() != n {
		t.Fatalf("%d keys held, want %d", st.Keys(), n)
	}
	heap := after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
	t.Logf("%d keys of %d bytes: live heap %.2f MiB (%d B/key)", n, size, float64(heap)/(1<<20), heap/n)
	if heap > n*1024 {
		t.Fatalf("live heap grew by %d bytes (%d per key): long keys are kept whole", heap, heap/n)
	}
}

// TestLongKeyLeaseAllocatesNothing checks that a long key served from its
// lease is found by its digest without allocating.
func TestLongKeyLeaseAllocatesNothing(t *testing.T) {
	f := &fakeRedis{reply: plenty}
	// A lease of 1,000 tokens, on a clock that stands still.
	s := Settings{RequestsPerSecond: 100_000, Burst: 100_000}
	st := newFakeStore(t, s, f, newFakeClock())
	key := longKey(4<<10, 1)
	allow(t, st, key)
	calls := f.calls()
	n := testing.AllocsPerRun(500, func() { st.Allow(context.Background(), key) })
	if f.calls() != calls {
		t.Fatalf("the lease ran out: %d more calls", f.calls()-calls)
	}
	if n != 0 {
		t.Fatalf("Allow for a long key with a lease: %v allocations, want 0", n)
	}
}
