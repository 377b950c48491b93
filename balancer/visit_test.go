package balancer

import (
	"testing"
	"time"
)

// visit compares every backend of a small pool, each once, and sampleSize
// distinct ones of a large pool.
func TestVisit(t *testing.T) {
	for _, n := range []int{1, 2, exactScanMax, exactScanMax + 1, 1000} {
		bs := makeBackends(t, equalWeights(n)...)
		a := newAliasTable(bs)
		for range 50 {
			seen := map[int]int{}
			visit(&a, n, func(i int) { seen[i]++ })
			want := min(n, sampleSize)
			if n <= exactScanMax {
				want = n
			}
			if len(seen) > want || (n <= exactScanMax && len(seen) != n) {
				t.Fatalf("n=%d: visited %d distinct backends, want %d", n, len(seen), want)
			}
			for i, c := range seen {
				if c != 1 || i < 0 || i >= n {
					t.Fatalf("n=%d: backend %d visited %d times", n, i, c)
				}
			}
			// Repeats are drawn again: a large pool with even weights
			// always gets sampleSize distinct backends compared.
			if n > exactScanMax && len(seen) != sampleSize {
				t.Fatalf("n=%d: %d distinct backends compared, want %d", n, len(seen), sampleSize)
			}
		}
	}
}

// In a large pool the least-load strategies compare a sample: they still
// never pick a backend busier than every other, and find idle backends far
// more often than their share.
func TestLeastLoadLargePool(t *testing.T) {
	const n = 1000
	for _, algo := range []string{LeastConnections, LeastLatency} {
		t.Run(algo, func(t *testing.T) {
			clk := newFakeClock(time.Unix(1000, 0))
			bs := makeBackends(t, equalWeights(n)...)
			for _, b := range bs {
				b.ObserveLatency(time.Millisecond, clk.Now())
			}
			// One backend much busier than the rest: never chosen.
			for range 10 {
				bs[7].Acquire()
			}
			// One in eight idle, the others with one request in flight.
			idle := 0
			for i, b := range bs {
				if i%8 == 0 {
					idle++
					continue
				}
				if i != 7 {
					b.Acquire()
				}
			}
			p := mustNew(t, Config{Algorithm: algo, Now: clk.Now}).Build(bs)
			const picks = 10000
			idlePicks := 0
			for range picks {
				b := p.Pick(nil)
				if b == bs[7] {
					t.Fatal("picked the busiest backend of the pool")
				}
				if b.InFlight() == 0 {
					idlePicks++
				}
			}
			// Idle backends are 1/8 of the pool; a sample of 16 holds one
			// with probability 1 - (7/8)^16 = 88 %.
			share := float64(idlePicks) / picks
			t.Logf("%s: %.1f %% of picks went to the idle eighth of %d backends", algo, 100*share, n)
			if share < 0.8 {
				t.Errorf("%.1f %% of picks to idle backends, want at least 80 %%", 100*share)
			}
		})
	}
}
