//go:build !smartproxy_nometrics

package smartproxy

import (
	"testing"
	"time"
)

// The per-request metric work: what a proxied request pays for metrics.
// Compare with BenchmarkHandler's tens of microseconds per request.
func BenchmarkMetricsObserve(b *testing.B) {
	m := newBackendMetrics("bench", "http://127.0.0.1:1", new(requestTotals))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.observe(200, 350*time.Microsecond)
		}
	})
}

func TestBackendMetricsObserve(t *testing.T) {
	totals := new(requestTotals)
	m := newBackendMetrics("test-observe", "http://127.0.0.1:2", totals)
	m.observe(200, time.Millisecond)
	m.observe(503, time.Millisecond)
	m.observe(0, time.Millisecond) // no answer
	if r, f := totals.requests.Load(), totals.failures.Load(); r != 3 || f != 2 {
		t.Fatalf("requests %d failures %d, want 3 and 2", r, f)
	}
	if n := testing.AllocsPerRun(100, func() { m.observe(204, time.Millisecond) }); n != 0 {
		t.Fatalf("observe allocates %v per call", n)
	}
}
