package breaker

import (
	"math"
	"time"
)

// backoff returns base doubled for each trip after the first, capped at
// max (before jitter).
func backoff(base, max time.Duration, trips int) time.Duration {
	d := base
	for i := 1; i < trips && d < max; i++ {
		if d > max/2 {
			return max
		}
		d *= 2
	}
	return min(d, max)
}

// jitter multiplies d by a random factor in [1-Jitter, 1+Jitter].
func (b *Breaker) jitter(d time.Duration) time.Duration {
	j := b.s.Jitter
	if j == 0 {
		return d
	}
	f := float64(d) * (1 - j + 2*j*b.s.Rand())
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(f)
}
