package ratelimit

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// longKey is a key of n bytes ending in i, so that keys of one length differ
// only at the end, where a hash of a prefix would not see it.
func longKey(n, i int) string {
	tail := strconv.Itoa(i)
	return strings.Repeat("k", n-len(tail)) + tail
}

// TestLongKeysStayBounded is the reported attack: 6,000 requests, each with
// a different 20 KB key (an X-Api-Key header, say), kept about 120 MB of
// heap. Stored as digests they must cost what short keys cost.
func TestLongKeysStayBounded(t *testing.T) {
	const n, size = 6_000, 20 << 10
	base := heapAfterGC()
	l := mustNew(t, Settings{RequestsPerSecond: 100, Burst: 10})
	buf := []byte(longKey(size, 0))
	for i := range n {
		// Overwrite the tail in place: one buffer, n distinct keys.
		tail := strconv.AppendInt(nil, int64(i), 10)
		key := string(append(buf[:size-len(tail)], tail...))
		if !l.Allow(key, t0).Allowed {
			t.Fatalf("long key %d refused: a fresh key gets its burst", i)
		}
	}
	if l.Keys() != n {
		t.Fatalf("Keys() = %d, want %d: distinct long keys must get distinct buckets", l.Keys(), n)
	}
	heap := heapAfterGC() - base
	runtime.KeepAlive(l)
	t.Logf("%d keys of %d bytes: live heap %.2f MiB (%d B/key)", n, size, float64(heap)/(1<<20), heap/n)
	if limit := uint64(n * 400); heap > limit {
		t.Fatalf("live heap grew by %d bytes (%d per key), want under %d: long keys are kept whole",
			heap, heap/n, limit)
	}
}

// TestLongKeysKeepTheirOwnBuckets checks that digesting changes no decision:
// a long key is one bucket, keyed by all of its bytes, and the boundary
// between stored whole and digested falls at MaxKeyBytes.
func TestLongKeysKeepTheirOwnBuckets(t *testing.T) {
	s := Settings{RequestsPerSecond: 1, Burst: 3}
	tests := []struct {
		name     string
		a, b     string // distinct keys
		digested bool
	}{
		{"longest kept whole", longKey(MaxKeyBytes, 1), longKey(MaxKeyBytes, 2), false},
		{"shortest digested", longKey(MaxKeyBytes+1, 1), longKey(MaxKeyBytes+1, 2), true},
		{"20 KB differing in the last byte", longKey(20<<10, 1), longKey(20<<10, 2), true},
		{"differing in the first byte", "x" + longKey(999, 1), "y" + longKey(999, 1), true},
		{"binary", string(bytes.Repeat([]byte{0, 0xff, '\r', '\n'}, 40)), string(bytes.Repeat([]byte{0, 0xff, '\n', '\r'}, 40)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := mustNew(t, s)
			if n := drain(l, tc.a, t0, 10); n != s.Burst {
				t.Fatalf("key a admitted %d at one instant, want its burst of %d", n, s.Burst)
			}
			if n := drain(l, tc.b, t0, 10); n != s.Burst {
				t.Fatalf("key b admitted %d after a was drained, want its own burst of %d", n, s.Burst)
			}
			// One second later each bucket holds one token again.
			if d := l.Allow(tc.a, t0.Add(time.Second)); !d.Allowed || d.Remaining != 0 {
				t.Fatalf("key a after 1 s: %+v, want its own refilled token", d)
			}
			sh, k := l.locate(tc.a)
			if want := len(tc.a); tc.digested {
				want = DigestSize
				if len(k) != want {
					t.Fatalf("stored form is %d bytes, want %d", len(k), want)
				}
			} else if k != tc.a {
				t.Fatalf("a key of %d bytes is not stored whole", len(tc.a))
			}
			if _, ok := sh.index[k]; !ok || l.Keys() != 2 {
				t.Fatalf("stored %v, Keys() = %d; want the stored form found and 2 keys", ok, l.Keys())
			}
		})
	}
}

// TestKeyHasherSeeds checks that digests depend on the whole key and on the
// hasher's seeds, so two processes disagree and nobody outside can predict.
func TestKeyHasherSeeds(t *testing.T) {
	h1, h2 := NewKeyHasher(), NewKeyHasher()
	key := longKey(100, 7)
	if h1.Sum(key) != h1.Sum(key) {
		t.Fatal("one hasher gives one key two digests")
	}
	if h1.Sum(key) == h2.Sum(key) {
		t.Fatal("two hashers with fresh seeds agree: the seeds are not used")
	}
	if h1.Sum(key) == h1.Sum(longKey(100, 8)) {
		t.Fatal("keys differing in the last byte share a digest")
	}
	if d := h1.Sum(key); d == [DigestSize]byte{} {
		t.Fatal("zero digest")
	}
}

func TestKnownLongKeyAllocatesNothing(t *testing.T) {
	l := mustNew(t, seed)
	key := longKey(4<<10, 1)
	l.Allow(key, t0)
	at := t0
	allocs := testing.AllocsPerRun(1000, func() {
		at = at.Add(time.Millisecond)
		l.Allow(key, at)
	})
	if allocs != 0 {
		t.Fatalf("Allow on a known long key: %v allocations per call, want 0", allocs)
	}
}

// TestStoreBytesPerKey measures a full store of DefaultMaxKeys keys of each
// shape: the figure DefaultMaxKeys documents. Keys longer than MaxKeyBytes
// cost what a 16-byte key costs; the worst case is a key of exactly
// MaxKeyBytes.
func TestStoreBytesPerKey(t *testing.T) {
	if raceEnabled {
		t.Skip("measures memory; -race adds its own")
	}
	tests := []struct {
		name  string
		size  int
		limit uint64 // bytes per key
	}{
		{"IPv4 addresses", 0, 200},
		{"IPv6 /64 networks", -1, 250},
		{"longest kept whole", MaxKeyBytes, 250},
		{"1 KiB, digested", 1 << 10, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys := make([]string, DefaultMaxKeys)
			for i := range keys {
				switch tc.size {
				case 0:
					keys[i] = "10." + strconv.Itoa(i>>16) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
				case -1:
					keys[i] = ClientKey("2001:db8:"+strconv.FormatInt(int64(i>>16), 16)+":"+strconv.FormatInt(int64(i&0xffff), 16)+"::1", DefaultIPv6Prefix)
				default:
					keys[i] = longKey(tc.size, i)
				}
			}
			base := heapAfterGC()
			l := mustNew(t, Settings{RequestsPerSecond: 100, Burst: 10})
			for _, k := range keys {
				l.Allow(k, t0)
			}
			heap := heapAfterGC() - base
			runtime.KeepAlive(l)
			runtime.KeepAlive(keys)
			per := heap / uint64(l.Keys())
			t.Logf("%d keys: %.1f MiB, %d B/key", l.Keys(), float64(heap)/(1<<20), per)
			if l.Keys() < DefaultMaxKeys*98/100 || per > tc.limit {
				t.Fatalf("%d keys at %d B/key, want at least 98%% of %d at %d B/key or less",
					l.Keys(), per, DefaultMaxKeys, tc.limit)
			}
		})
	}
}
