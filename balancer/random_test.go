package balancer

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The alias table's exact probabilities, computed from its columns, must be
// the weights' shares.
func TestAliasTableIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := [][]int{{1}, {1, 1}, {1, 2}, {5, 1, 1}, {1, 1000}, {3, 3, 3, 1}}
	for range 20 {
		ws := make([]int, 1+rng.IntN(50))
		for i := range ws {
			ws[i] = 1 + rng.IntN(100)
		}
		sets = append(sets, ws)
	}
	for _, ws := range sets {
		bs := makeBackends(t, ws...)
		table := newAliasTable(bs)
		n := float64(len(ws))
		got := make([]float64, len(ws))
		for col, c := range table.cols {
			keep := float64(c.keep) / (1 << 32)
			got[col] += keep / n
			got[c.alias] += (1 - keep) / n
		}
		total := 0
		for _, w := range ws {
			total += w
		}
		for i, w := range ws {
			if want := float64(w) / float64(total); math.Abs(got[i]-want) > 1e-9 {
				t.Errorf("weights %v: backend %d drawn with probability %.12f, want %.12f", ws, i, got[i], want)
			}
		}
	}
}

// draw must use both halves of the random number as documented: the column
// from the high bits, the coin from the low bits.
func TestAliasTableDraw(t *testing.T) {
	table := newAliasTable(makeBackends(t, 1, 3)) // columns: 0 keeps 1/2 with alias 1; 1 keeps all
	tests := []struct {
		r    uint64
		want int
	}{
		{r: 0, want: 0},                          // column 0, coin 0 < 1/2
		{r: 1<<31 - 1, want: 0},                  // column 0, coin just below 1/2
		{r: 1 << 31, want: 1},                    // column 0, coin 1/2: the alias
		{r: 1<<63 | 0, want: 1},                  // column 1
		{r: math.MaxUint64, want: 1},             // column 1, any coin
		{r: (1<<63 - 1) &^ (1<<32 - 1), want: 0}, // last value of column 0, coin 0
	}
	for _, tc := range tests {
		if got := table.draw(tc.r); got != tc.want {
			t.Errorf("draw(%#x) = %d, want %d", tc.r, got, tc.want)
		}
	}
}

// checkShares fails if a share differs from the weight's share by more than
// tol (absolute).
func checkShares(t *testing.T, counts, weights []int, tol float64) {
	t.Helper()
	picks, total := 0, 0
	for i := range counts {
		picks += counts[i]
		total += weights[i]
	}
	for i, c := range counts {
		got, want := float64(c)/float64(picks), float64(weights[i])/float64(total)
		if math.Abs(got-want) > tol {
			t.Errorf("backend %d (weight %d): share %.4f, want %.4f ± %.3f (counts %v)", i, weights[i], got, want, tol, counts)
		}
	}
}

// With 200,000 picks one share's standard deviation is at most 0.0012, so a
// tolerance of 0.01 is over 8 standard deviations: the test does not flake.
func TestRandomFollowsWeights(t *testing.T) {
	for _, alg := range []string{Random, P2C} {
		for _, ws := range [][]int{{1, 1}, {1, 2}, {1, 2, 7}, {5, 1, 1, 3}} {
			t.Run(alg+"/"+weightsName(ws), func(t *testing.T) {
				bs := makeBackends(t, ws...)
				p := mustNew(t, Config{Algorithm: alg}).Build(bs)
				checkShares(t, countPicks(t, p, bs, nil, 200_000), ws, 0.01)
			})
		}
	}
}

// p2c keeps the less loaded of two draws: with two equal backends and one
// busy, the busy one is chosen only when both draws hit it, 1/4 of the time.
func TestP2CAvoidsTheBusyBackend(t *testing.T) {
	bs := makeBackends(t, 1, 1)
	for range 10 {
		bs[0].Acquire()
	}
	p := mustNew(t, Config{Algorithm: P2C}).Build(bs)
	counts := countPicks(t, p, bs, nil, 200_000)
	if share := float64(counts[0]) / 200_000; math.Abs(share-0.25) > 0.01 {
		t.Fatalf("busy backend share = %.4f, want 0.25 ± 0.01", share)
	}
}

// Picks that are held (never released) stay balanced under p2c, and in
// proportion to weight: in-flight per unit of weight stays within a few
// requests, where plain random would drift by tens.
func TestP2CBalancesHeldLoad(t *testing.T) {
	ws := []int{1, 1, 2, 1, 1, 2, 1, 1, 2, 1}
	bs := makeBackends(t, ws...)
	p := mustNew(t, Config{Algorithm: P2C}).Build(bs)
	for range 1300 { // 100 per unit of weight
		p.Pick(nil).Acquire()
	}
	for i, b := range bs {
		perWeight := float64(b.InFlight()) / float64(ws[i])
		if perWeight < 92 || perWeight > 108 {
			t.Errorf("backend %d (weight %d): %d in flight, %.1f per weight, want 100 ± 8", i, ws[i], b.InFlight(), perWeight)
		}
	}
}
