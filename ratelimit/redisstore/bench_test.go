package redisstore

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/ratelimit"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// leased are limits so high that the benchmark never runs out of tokens,
// with big leases: L = 1e6 tokens for D = 10 ms, so almost every Allow is
// served from the lease and one per 10 ms is a Redis call, as with any hot
// key. (A lease taken every D is exactly the refill rate, so the bucket
// never drains.)
var leased = Settings{RequestsPerSecond: 1e8, Burst: 1e8, LeaseSize: 1e6}

// roundTrip are the same limits without leases: every Allow is a script
// call.
var roundTrip = Settings{RequestsPerSecond: 1e6, Burst: 1e6, LeaseSize: 1}

func benchSerial(b *testing.B, s Settings) { benchSerialKey(b, s, "198.51.100.7") }

func benchSerialKey(b *testing.B, s Settings, key string) {
	r := redistest.Start(b)
	st := newTestStore(b, r, s)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d, err := st.Allow(ctx, key); err != nil || !d.Allowed {
			b.Fatalf("refused: %+v, %v", d, err)
		}
	}
	b.ReportMetric(float64(st.RedisCalls())/float64(b.N), "calls/op")
}

func benchParallel(b *testing.B, s Settings, sameKey bool) {
	r := redistest.Start(b)
	st := newTestStore(b, r, s)
	ctx := context.Background()
	var id atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := "198.51.100.7"
		if !sameKey {
			key = "198.51.100." + strconv.Itoa(int(id.Add(1)))
		}
		for pb.Next() {
			if d, err := st.Allow(ctx, key); err != nil || !d.Allowed {
				b.Errorf("refused: %+v, %v", d, err)
				return
			}
		}
	})
	b.ReportMetric(float64(st.RedisCalls())/float64(b.N), "calls/op")
}

// BenchmarkAllowLease is the hot path: a known key with a live lease.
func BenchmarkAllowLease(b *testing.B) { benchSerial(b, leased) }

// BenchmarkAllowLeaseLongKey is the hot path for a 1 KiB key (a bearer
// token, say), found by its digest.
func BenchmarkAllowLeaseLongKey(b *testing.B) { benchSerialKey(b, leased, longKey(1<<10, 7)) }

// BenchmarkAllowLeaseParallel has every goroutine on the same key, the
// worst case for its shard lock.
func BenchmarkAllowLeaseParallel(b *testing.B) { benchParallel(b, leased, true) }

// BenchmarkAllowLeaseParallelKeys has one key per goroutine.
func BenchmarkAllowLeaseParallelKeys(b *testing.B) { benchParallel(b, leased, false) }

// BenchmarkAllowRoundTrip is LeaseSize 1: one script call per Allow to a
// redis-server on loopback.
func BenchmarkAllowRoundTrip(b *testing.B) { benchSerial(b, roundTrip) }

// BenchmarkAllowRoundTripParallel is concurrent script calls, one key per
// goroutine so that calls do not wait for each other.
func BenchmarkAllowRoundTripParallel(b *testing.B) { benchParallel(b, roundTrip, false) }

// BenchmarkAllowDegraded is a request while Redis is down under FailOpen:
// the local fallback limiter, no Redis.
func BenchmarkAllowDegraded(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := leased
	s.Address = l.Addr().String()
	l.Close()
	st, err := New(s)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	st.Allow(ctx, "k")
	if !st.Degraded() {
		b.Fatal("not degraded with nothing listening")
	}
	b.ReportAllocs()
	for b.Loop() {
		st.Allow(ctx, "198.51.100.7")
	}
}

// BenchmarkLocalLimiter is package ratelimit's Limiter on the same key and
// limits, for the ratio in one run.
func BenchmarkLocalLimiter(b *testing.B) {
	l, err := ratelimit.New(ratelimit.Settings{RequestsPerSecond: 1e6, Burst: 1e6})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Allow("198.51.100.7", time.Now())
	}
}
