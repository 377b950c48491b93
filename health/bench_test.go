package health

import (
	"testing"
)

// passiveRecord returns a Record run by a started Checker with passive
// checks on, as the proxy's hot path sees it.
func passiveRecord(tb testing.TB) *Record {
	c, _ := startedChecker(tb, Settings{PassiveFailures: 5, PassiveUnhealthyStatuses: []int{502, 503, 504}}, newFakeClock(), []Target{{Name: "a"}})
	return c.Record("a")
}

func TestReportPassiveSuccessAllocatesNothing(t *testing.T) {
	r := passiveRecord(t)
	if n := testing.AllocsPerRun(1000, func() { r.ReportPassive(true, 200) }); n != 0 {
		t.Fatalf("ReportPassive success path: %v allocs, want 0", n)
	}
	r.ReportPassive(false, 0) // a streak under way: success must end it, still for free
	if n := testing.AllocsPerRun(1000, func() { r.ReportPassive(true, 200); r.passive.Store(1) }); n != 0 {
		t.Fatalf("ReportPassive streak reset: %v allocs, want 0", n)
	}
}

func BenchmarkReportPassiveSuccess(b *testing.B) {
	r := passiveRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		r.ReportPassive(true, 200)
	}
}

func BenchmarkReportPassiveSuccessParallel(b *testing.B) {
	r := passiveRecord(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.ReportPassive(true, 200)
		}
	})
}

// Failures reported while the backend is already out (in-flight requests
// finishing) stay off the lock.
func BenchmarkReportPassiveFailureWhileUnhealthy(b *testing.B) {
	r := passiveRecord(b)
	for range 5 {
		r.ReportPassive(false, 0)
	}
	if r.State() != Unhealthy {
		b.Fatal("setup: not tripped")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.ReportPassive(true, 502)
		}
	})
}

func BenchmarkRecordState(b *testing.B) {
	r := passiveRecord(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r.State() != Healthy {
				b.Error("state changed")
			}
		}
	})
}

func BenchmarkRecordStatus(b *testing.B) {
	r := passiveRecord(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Status()
	}
}
