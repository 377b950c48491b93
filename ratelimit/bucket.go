package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Decision is the outcome of one Allow call: whether the request may go on,
// and what the response headers should say.
type Decision struct {
	// Allowed reports whether the request took a token.
	Allowed bool
	// Remaining is the whole number of tokens left after this request (0
	// when refused).
	Remaining int
	// RetryAfter is, for a refused request, the time until one token is
	// back; 0 when allowed.
	RetryAfter time.Duration
	// Reset is the time until the bucket is full again (0 when it is full).
	Reset time.Duration
}

// bucket is one token bucket. last is nanoseconds since the Limiter's epoch;
// an int64 instead of a time.Time keeps a stored key 16 bytes smaller.
type bucket struct {
	tokens float64
	last   int64
}

// full returns a bucket as a never-seen key gets it.
func (p *params) full(now int64) bucket {
	return bucket{tokens: p.burst, last: now}
}

// params are the per-Limiter constants of the bucket arithmetic.
type params struct {
	rate  float64 // tokens per second
	burst float64 // bucket size
}

// advance returns b's tokens at now without changing b. As in x/time/rate, a
// now before b.last counts as no time passed.
func (p *params) advance(b *bucket, now int64) float64 {
	last := b.last
	if now < last {
		last = now
	}
	tokens := b.tokens + time.Duration(now-last).Seconds()*p.rate
	if tokens > p.burst {
		tokens = p.burst
	}
	return tokens
}

// take decides one request against b at now, updating b only when the
// request is allowed, exactly as rate.Limiter.AllowN(now, 1) does.
func (p *params) take(b *bucket, now int64) Decision {
	tokens := p.advance(b, now)
	left := tokens - 1
	var wait time.Duration
	if left < 0 {
		// Truncated like x/time/rate's durationFromTokens, so that the
		// decision matches it even for a deficit below a nanosecond.
		wait = truncDuration(-left / p.rate)
	}
	if wait <= 0 {
		b.tokens = left
		b.last = now
		return Decision{
			Allowed:   true,
			Remaining: wholeTokens(left),
			Reset:     ceilDuration((p.burst - left) / p.rate),
		}
	}
	return Decision{
		RetryAfter: ceilDuration(-left / p.rate),
		Reset:      ceilDuration((p.burst - tokens) / p.rate),
	}
}

// isFull reports whether b would be full at now, which makes it
// indistinguishable from a fresh bucket and so safe to evict.
func (p *params) isFull(b *bucket, now int64) bool {
	return p.advance(b, now) >= p.burst
}

// wholeTokens floors a token count to an int, never below 0.
func wholeTokens(t float64) int {
	if t <= 0 {
		return 0
	}
	return int(t)
}

// truncDuration converts seconds to a Duration rounding toward zero, capped
// at the largest Duration.
func truncDuration(sec float64) time.Duration {
	ns := sec * float64(time.Second)
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// ceilDuration converts seconds to a Duration rounding up, so that waiting
// that long is always enough; capped at the largest Duration.
func ceilDuration(sec float64) time.Duration {
	ns := math.Ceil(sec * float64(time.Second))
	switch {
	case ns >= math.MaxInt64:
		return math.MaxInt64
	case ns <= 0:
		return 0
	}
	return time.Duration(ns)
}

// lockedBucket is a bucket with its own lock: the Global bucket and the
// overflow bucket for keys the store could not hold.
type lockedBucket struct {
	mu sync.Mutex
	b  bucket
}

// take decides one request against the locked bucket.
func (lb *lockedBucket) take(p *params, now int64) Decision {
	lb.mu.Lock()
	d := p.take(&lb.b, now)
	lb.mu.Unlock()
	return d
}
