package smartproxy

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Latency histograms. Each backend counts its times to response headers
// in a fixed set of log-linear buckets: four per power of two of
// microseconds (each at most 25 % wide), from 1 µs to 67 s; slower answers
// fall in the last bucket. Observing is one atomic add and allocates
// nothing; percentiles are read from differences of two snapshots (the
// status history, statushistory.go), interpolated within a bucket.

// histBuckets is the number of buckets: 4 per octave over 2^0..2^25 µs.
const histBuckets = 4*23 + 8

// latencyHist counts observations by bucket. The zero value is empty and
// ready; it must not be copied.
type latencyHist struct {
	counts [histBuckets]atomic.Uint64
}

// histIndex is d's bucket: v = µs >> e keeps the three top bits, and
// the bucket is 4e + v (for µs < 8, just µs).
func histIndex(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	e := max(bits.Len64(us)-3, 0)
	i := 4*e + int(us>>e)
	return min(i, histBuckets-1)
}

// histBounds are bucket i's lower and upper bounds.
func histBounds(i int) (lo, hi time.Duration) {
	if i < 8 {
		return time.Duration(i) * time.Microsecond, time.Duration(i+1) * time.Microsecond
	}
	e := i/4 - 1
	v := uint64(i - 4*e)
	return time.Duration(v<<e) * time.Microsecond, time.Duration((v+1)<<e) * time.Microsecond
}

// observe counts d.
func (h *latencyHist) observe(d time.Duration) {
	h.counts[histIndex(d)].Add(1)
}

// histSnap is a histogram read at one moment.
type histSnap [histBuckets]uint64

// snapshot reads the counts.
func (h *latencyHist) snapshot(s *histSnap) {
	for i := range h.counts {
		s[i] = h.counts[i].Load()
	}
}

// quantiles returns the q-quantiles of the observations counted in now but
// not in base (counts only grow), and how many there were; ok is false
// when there were none.
func quantiles(now, base *histSnap, qs ...float64) (out []time.Duration, n uint64, ok bool) {
	var delta histSnap
	for i := range now {
		delta[i] = now[i] - base[i]
		n += delta[i]
	}
	if n == 0 {
		return nil, 0, false
	}
	out = make([]time.Duration, len(qs))
	for j, q := range qs {
		rank := q * float64(n) // the rank-th observation, from 0
		var seen uint64
		for i, c := range delta {
			if c == 0 || float64(seen+c) < rank {
				seen += c
				continue
			}
			lo, hi := histBounds(i)
			frac := (rank - float64(seen)) / float64(c)
			out[j] = lo + time.Duration(frac*float64(hi-lo))
			break
		}
	}
	return out, n, true
}
