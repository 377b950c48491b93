package balancer

import (
	"math/rand/v2"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// aliasTable draws an index with probability proportional to its weight in
// O(1) from one 64-bit random number (Vose's alias method): the high 32 bits
// choose a column uniformly, the low 32 bits flip that column's biased coin
// between the column itself and its alias.
type aliasTable struct {
	cols []aliasColumn
}

type aliasColumn struct {
	// keep is the probability, scaled to 1<<32, that the column's own index
	// is drawn; 1<<32 means always.
	keep  uint64
	alias uint32
}

// newAliasTable builds the table for the backends' weights, which are all
// positive (live filtered the others out).
func newAliasTable(bs []*backend.Backend) aliasTable {
	n := len(bs)
	var total float64
	for _, b := range bs {
		total += float64(b.Weight())
	}
	// scaled[i] is weight i in units of the mean weight, so columns hold 1.
	scaled := make([]float64, n)
	small := make([]int, 0, n)
	large := make([]int, 0, n)
	for i, b := range bs {
		scaled[i] = float64(b.Weight()) * float64(n) / total
		if scaled[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	cols := make([]aliasColumn, n)
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		cols[s] = aliasColumn{keep: uint64(scaled[s] * (1 << 32)), alias: uint32(l)}
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left holds 1 up to rounding: it keeps its own index.
	for _, i := range append(small, large...) {
		cols[i] = aliasColumn{keep: 1 << 32, alias: uint32(i)}
	}
	return aliasTable{cols: cols}
}

// draw returns an index for the random number r.
func (t *aliasTable) draw(r uint64) int {
	col := (r >> 32) * uint64(len(t.cols)) >> 32
	c := &t.cols[col]
	if r&(1<<32-1) < c.keep {
		return int(col)
	}
	return int(c.alias)
}

// pick draws a backend index with a fresh random number.
func (t *aliasTable) pick() int { return t.draw(rand.Uint64()) }
