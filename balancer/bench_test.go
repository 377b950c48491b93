package balancer

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

var benchSizes = []int{2, 10, 100, 1000}

// benchPool returns n backends with mixed weights, some load in flight and
// measured latencies, so the scanning strategies do real comparisons.
func benchPool(b *testing.B, n int) []*backend.Backend {
	ws := make([]int, n)
	for i := range ws {
		ws[i] = 1 + i%3
	}
	bs := makeBackends(b, ws...)
	now := time.Now()
	for i, be := range bs {
		for range i % 5 {
			be.Acquire()
		}
		be.ObserveLatency(time.Duration(1+i%7)*time.Millisecond, now)
	}
	return bs
}

// benchRequests returns requests from 1024 client addresses, used in turn.
func benchRequests() []*http.Request {
	rs := make([]*http.Request, 1024)
	for i := range rs {
		rs[i] = requestWithKey("")
		rs[i].RemoteAddr = fmt.Sprintf("198.51.%d.%d", i>>8, i&255)
	}
	return rs
}

func remoteAddr(r *http.Request) string { return r.RemoteAddr }

// BenchmarkPick measures one pick; its output reads as a table:
// BenchmarkPick/<algorithm>/n=<backends>/{serial,parallel}. Slow start is
// on (nothing ramping), as a production config would have it.
func BenchmarkPick(b *testing.B) {
	rs := benchRequests()
	for _, alg := range Names() {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/n=%d", alg, n), func(b *testing.B) {
				bal := mustNew(b, Config{Algorithm: alg, HashKey: remoteAddr, SlowStart: time.Minute})
				p := bal.Build(benchPool(b, n))
				b.Run("serial", func(b *testing.B) {
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						if p.Pick(rs[i&1023]) == nil {
							b.Fatal("nil pick")
						}
					}
				})
				b.Run("parallel", func(b *testing.B) {
					b.ReportAllocs()
					b.RunParallel(func(pb *testing.PB) {
						for i := 0; pb.Next(); i++ {
							if p.Pick(rs[i&1023]) == nil {
								b.Error("nil pick")
								return
							}
						}
					})
				})
			})
		}
	}
}

// BenchmarkPickRamping measures a pick while a backend is in slow start,
// which reads the clock and may pick again.
func BenchmarkPickRamping(b *testing.B) {
	for _, alg := range []string{RoundRobin, WeightedRoundRobin, Random, P2C, LeastConnections, LeastLatency} {
		b.Run(alg, func(b *testing.B) {
			bs := benchPool(b, 10)
			bs[0].MarkAvailable(time.Now())
			p := mustNew(b, Config{Algorithm: alg, SlowStart: time.Hour}).Build(bs)
			b.ReportAllocs()
			for b.Loop() {
				p.Pick(nil)
			}
		})
	}
}

// BenchmarkBuild measures a rebuild, which runs on every availability
// change (not on the request path; it allocates the new picker).
func BenchmarkBuild(b *testing.B) {
	for _, alg := range Names() {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/n=%d", alg, n), func(b *testing.B) {
				bs := benchPool(b, n)
				bal := mustNew(b, Config{Algorithm: alg, HashKey: remoteAddr})
				b.ReportAllocs()
				for b.Loop() {
					bal.Build(bs)
				}
			})
		}
	}
}
