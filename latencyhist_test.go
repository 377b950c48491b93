package smartproxy

import (
	"testing"
	"time"
)

func TestHistIndexBounds(t *testing.T) {
	for _, d := range []time.Duration{0, time.Microsecond, 7 * time.Microsecond, 8 * time.Microsecond,
		100 * time.Microsecond, 999 * time.Microsecond, time.Millisecond, 37 * time.Millisecond,
		time.Second, 30 * time.Second} {
		i := histIndex(d)
		lo, hi := histBounds(i)
		if d < lo || d >= hi {
			t.Errorf("%v in bucket %d [%v, %v)", d, i, lo, hi)
		}
		if d >= 8*time.Microsecond && float64(hi-lo) > 0.25*float64(lo)+1 {
			t.Errorf("%v: bucket [%v, %v) wider than 25 %%", d, lo, hi)
		}
	}
	for i := 1; i < histBuckets; i++ {
		_, prevHi := histBounds(i - 1)
		lo, _ := histBounds(i)
		if lo != prevHi {
			t.Fatalf("bucket %d starts at %v, bucket %d ends at %v", i, lo, i-1, prevHi)
		}
	}
	for _, d := range []time.Duration{-time.Second, time.Hour} {
		if i := histIndex(d); i < 0 || i >= histBuckets {
			t.Errorf("%v: bucket %d out of range", d, i)
		}
	}
}

func TestQuantiles(t *testing.T) {
	cases := []struct {
		name     string
		obs      []time.Duration
		p50, p99 time.Duration // expected, within 25 %
	}{
		{"one", []time.Duration{10 * time.Millisecond}, 10 * time.Millisecond, 10 * time.Millisecond},
		{"uniform 1..100 ms", func() (o []time.Duration) {
			for i := 1; i <= 100; i++ {
				o = append(o, time.Duration(i)*time.Millisecond)
			}
			return
		}(), 50 * time.Millisecond, 99 * time.Millisecond},
		{"tail", func() (o []time.Duration) {
			for range 98 {
				o = append(o, time.Millisecond)
			}
			return append(o, 2*time.Second, 2*time.Second)
		}(), time.Millisecond, 2 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h latencyHist
			var base, now histSnap
			h.observe(time.Hour) // before the base: not counted
			h.snapshot(&base)
			for _, d := range tc.obs {
				h.observe(d)
			}
			h.snapshot(&now)
			q, n, ok := quantiles(&now, &base, 0.5, 0.99)
			if !ok || n != uint64(len(tc.obs)) {
				t.Fatalf("n = %d, ok = %v; want %d", n, ok, len(tc.obs))
			}
			for i, want := range []time.Duration{tc.p50, tc.p99} {
				if got := q[i]; float64(got) < 0.75*float64(want) || float64(got) > 1.25*float64(want) {
					t.Errorf("quantile %d: %v, want about %v", i, got, want)
				}
			}
		})
	}
	var empty histSnap
	if _, _, ok := quantiles(&empty, &empty, 0.5); ok {
		t.Error("quantiles of nothing reported ok")
	}
}

func BenchmarkLatencyHistObserve(b *testing.B) {
	var h latencyHist
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := 1500 * time.Microsecond
		for pb.Next() {
			h.observe(d)
		}
	})
	if testing.AllocsPerRun(100, func() { h.observe(time.Millisecond) }) != 0 {
		b.Fatal("observe allocates")
	}
}
