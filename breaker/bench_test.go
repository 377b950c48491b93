package breaker

import (
	"testing"
	"time"
)

// benchSettings are closed-state breakers: with the window off (consecutive
// failures only) and on (error ratio and latency quantile), on the real
// clock as in production.
var benchSettings = []struct {
	name string
	s    Settings
}{
	{"window-off", Settings{}},
	{"window-on", Settings{ErrorRatio: 0.5, LatencyThreshold: time.Second}},
}

// BenchmarkAllowReport is the per-request cost in the closed state: one
// Allow and one Report, mostly successes with an occasional failure (never
// enough to trip).
func BenchmarkAllowReport(b *testing.B) {
	for _, bs := range benchSettings {
		b.Run(bs.name, func(b *testing.B) {
			br, err := New(bs.s)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d, err := br.Allow()
				if err != nil {
					b.Fatal(err)
				}
				i++
				d.Report(i%64 != 0, time.Millisecond)
			}
			if br.Trips() != 0 {
				b.Fatal("benchmark tripped the breaker")
			}
		})
	}
}

// BenchmarkAllowReportAt is the closed-state cost when the caller hands
// over its own clock reading, as a proxy that measured the latency can.
func BenchmarkAllowReportAt(b *testing.B) {
	for _, bs := range benchSettings {
		b.Run(bs.name, func(b *testing.B) {
			br, err := New(bs.s)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d, err := br.Allow()
				if err != nil {
					b.Fatal(err)
				}
				i++
				d.ReportAt(start.Add(time.Duration(i)*time.Microsecond), i%64 != 0, time.Millisecond)
			}
		})
	}
}

func BenchmarkAllowReportParallel(b *testing.B) {
	for _, bs := range benchSettings {
		b.Run(bs.name, func(b *testing.B) {
			br, err := New(bs.s)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					d, err := br.Allow()
					if err != nil {
						b.Error(err)
						return
					}
					i++
					d.Report(i%64 != 0, time.Millisecond)
				}
			})
			if br.Trips() != 0 {
				b.Fatal("benchmark tripped the breaker")
			}
		})
	}
}

func BenchmarkAllowReportAtParallel(b *testing.B) {
	for _, bs := range benchSettings {
		b.Run(bs.name, func(b *testing.B) {
			br, err := New(bs.s)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					d, err := br.Allow()
					if err != nil {
						b.Error(err)
						return
					}
					i++
					d.ReportAt(start.Add(time.Duration(i)*time.Microsecond), i%64 != 0, time.Millisecond)
				}
			})
		})
	}
}

// BenchmarkAllowOpen is the cost of being refused by an open breaker.
func BenchmarkAllowOpen(b *testing.B) {
	br, err := New(Settings{FailureThreshold: 1, BaseBackoff: time.Hour, MaxBackoff: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	d, _ := br.Allow()
	d.Report(false, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := br.Allow(); err != ErrOpen {
			b.Fatal(err)
		}
	}
}

// BenchmarkReady is the pool's availability check.
func BenchmarkReady(b *testing.B) {
	br, err := New(Settings{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !br.Ready(now) {
				b.Error("not ready")
				return
			}
		}
	})
}
