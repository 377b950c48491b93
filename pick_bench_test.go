package smartproxy

import (
	"net/http/httptest"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/balancer"
)

// The pool's pick on the hot path: one snapshot load and a strategy pick,
// plus the cap's CAS (and its release) when backends are capped, or the
// sticky cookie's lookup. Each must not allocate. Run:
//
//	go test -run '^$' -bench 'BenchmarkPick' -benchmem .

func BenchmarkPick(b *testing.B) {
	bal, _ := balancer.New(balancer.Config{})
	p := newTestPool(testBackends(b, 4), bal, nil, 0)
	r := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if p.pick(r, nil) == nil {
				b.Fatal("no pick")
			}
		}
	})
}

// BenchmarkPickCapped: below the caps, and with three of four backends at
// theirs (round robin asks again until it reaches the free one).
func BenchmarkPickCapped(b *testing.B) {
	for _, tc := range []struct {
		name string
		caps []int
		full int // backends filled to their cap before the loop
	}{
		{"below", []int{1 << 20, 1 << 20, 1 << 20, 1 << 20}, 0},
		{"three_at_cap", []int{1, 1, 1, 1 << 20}, 3},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p, _ := cappedPool(b, "bench|capped|"+tc.name, tc.caps, nil)
			for _, x := range p.snap.Load().available[:tc.full] {
				p.member(x).gate.take()
			}
			r := httptest.NewRequest("GET", "/", nil)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					x := p.pick(r, nil)
					if x == nil {
						b.Fatal("no pick")
					}
					p.member(x).gate.give()
				}
			})
		})
	}
}
