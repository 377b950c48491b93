package ratelimit

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchKeys makes n distinct keys shaped like client addresses.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "198.51.100." + strconv.Itoa(i)
	}
	return keys
}

// BenchmarkAllowKnownKey is the common case: one client, already stored.
func BenchmarkAllowKnownKey(b *testing.B) {
	l := mustNew(b, seed)
	l.Allow("198.51.100.7", t0)
	b.ReportAllocs()
	at := t0
	for b.Loop() {
		at = at.Add(time.Millisecond)
		l.Allow("198.51.100.7", at)
	}
}

// BenchmarkAllowKnownLongKey is a stored key longer than MaxKeyBytes (a
// 1 KiB token, say): the digest is computed on every request, allocation
// free.
func BenchmarkAllowKnownLongKey(b *testing.B) {
	l := mustNew(b, seed)
	key := longKey(1<<10, 7)
	l.Allow(key, t0)
	b.ReportAllocs()
	at := t0
	for b.Loop() {
		at = at.Add(time.Millisecond)
		l.Allow(key, at)
	}
}

// BenchmarkAllowHotKeyParallel has every goroutine hit the same key: the
// worst case for the shard lock.
func BenchmarkAllowHotKeyParallel(b *testing.B) {
	l := mustNew(b, seed)
	l.Allow("198.51.100.7", t0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		at := t0
		for pb.Next() {
			at = at.Add(time.Millisecond)
			l.Allow("198.51.100.7", at)
		}
	})
}

// BenchmarkAllowManyKeysParallel spreads goroutines over 10,000 stored keys,
// as a proxy with many clients sees.
func BenchmarkAllowManyKeysParallel(b *testing.B) {
	l := mustNew(b, seed)
	keys := benchKeys(10_000)
	for _, k := range keys {
		l.Allow(k, t0)
	}
	var worker atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(worker.Add(7919))
		at := t0
		for pb.Next() {
			i++
			at = at.Add(time.Microsecond)
			l.Allow(keys[i%len(keys)], at)
		}
	})
}

// BenchmarkAllowManyKeys is the serial form of the many-keys case, where the
// map and LRU list no longer sit in the CPU cache.
func BenchmarkAllowManyKeys(b *testing.B) {
	l := mustNew(b, seed)
	keys := benchKeys(10_000)
	for _, k := range keys {
		l.Allow(k, t0)
	}
	b.ReportAllocs()
	at, i := t0, 0
	for b.Loop() {
		i++
		at = at.Add(time.Microsecond)
		l.Allow(keys[i%len(keys)], at)
	}
}

// BenchmarkAllowGlobal is Global mode, one bucket for all.
func BenchmarkAllowGlobal(b *testing.B) {
	s := seed
	s.Global = true
	l := mustNew(b, s)
	b.ReportAllocs()
	at := t0
	for b.Loop() {
		at = at.Add(time.Millisecond)
		l.Allow("ignored", at)
	}
}

// BenchmarkAllowGlobalParallel is Global mode under contention.
func BenchmarkAllowGlobalParallel(b *testing.B) {
	s := seed
	s.Global = true
	l := mustNew(b, s)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		at := t0
		for pb.Next() {
			at = at.Add(time.Millisecond)
			l.Allow("ignored", at)
		}
	})
}

// BenchmarkAllowNewKeyEvicting is a flood of new keys into a full store, each
// evicting a full bucket. A new key may allocate (its copy of the key).
func BenchmarkAllowNewKeyEvicting(b *testing.B) {
	l := mustNew(b, Settings{RequestsPerSecond: 100, Burst: 10, MaxKeys: 10_000})
	keys := benchKeys(100_000)
	b.ReportAllocs()
	at, i := t0, 0
	for b.Loop() {
		i++
		at = at.Add(time.Millisecond)
		l.Allow(keys[i%len(keys)], at)
	}
}

// BenchmarkAppendHeader formats the RateLimit and Retry-After values into a
// reused buffer.
func BenchmarkAppendHeader(b *testing.B) {
	d := Decision{Remaining: 7, RetryAfter: 10 * time.Millisecond, Reset: 93 * time.Millisecond}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = d.AppendHeader(buf[:0])
		buf = d.AppendRetryAfter(buf)
	}
}

// BenchmarkAppendClientKey builds the key of an IPv4 and of an IPv6 client
// into a reused buffer, as a handler does for every request.
func BenchmarkAppendClientKey(b *testing.B) {
	for _, ip := range []string{"203.0.113.7", "2001:db8:1:2:3:4:5:6"} {
		b.Run(ip, func(b *testing.B) {
			buf := make([]byte, 0, 64)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendClientKey(buf[:0], ip, DefaultIPv6Prefix)
			}
		})
	}
}

// BenchmarkClientKeyIPv4 is ClientKey for an IPv4 client: its own key, no
// allocation.
func BenchmarkClientKeyIPv4(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ClientKey("203.0.113.7", DefaultIPv6Prefix)
	}
}
