package breaker

import (
	"math"
	"sync/atomic"
)

// windowBuckets is the number of time buckets the rolling window is cut
// into. Ten keeps the judged history within 10% of Window while a sum over
// the window stays a few dozen atomic loads.
const windowBuckets = 10

// Sentinel bucket epochs. Real epochs are >= 0.
const (
	epochEmpty    = math.MinInt64     // never written, or cleared by reset
	epochClearing = math.MinInt64 + 1 // being zeroed for a new epoch
)

// bucket counts the outcomes of one Window/windowBuckets slice of time.
// epoch is the absolute index of that slice (time since the breaker's start
// divided by the bucket width), so a slot left over from an earlier turn of
// the ring is recognised as stale and cleared before reuse.
type bucket struct {
	epoch    atomic.Int64
	requests atomic.Uint64
	failures atomic.Uint64
	slow     atomic.Uint64
}

// window is a lock-free, allocation-free rolling count of requests,
// failures and slow requests. It is exact except at the instant a slot is
// recycled: a sample that arrives while another goroutine is clearing the
// slot it belongs to is dropped rather than waited for. It must not be
// copied.
type window struct {
	width   int64 // nanoseconds per bucket
	buckets [windowBuckets]bucket
}

func newWindow(span int64) *window {
	w := &window{width: span / windowBuckets}
	w.reset()
	return w
}

// record adds one outcome at now (nanoseconds since the breaker's start).
func (w *window) record(now int64, failed, slow bool) {
	e := w.epochAt(now)
	bk := &w.buckets[e%windowBuckets]
	for {
		cur := bk.epoch.Load()
		if cur == e {
			break
		}
		if cur == epochClearing || cur > e {
			// Another goroutine is recycling this slot, or a caller with a
			// later clock reading already has: drop the sample rather than
			// spin or count it in the wrong slice of time.
			return
		}
		if bk.epoch.CompareAndSwap(cur, epochClearing) {
			bk.requests.Store(0)
			bk.failures.Store(0)
			bk.slow.Store(0)
			bk.epoch.Store(e)
			break
		}
	}
	bk.requests.Add(1)
	if failed {
		bk.failures.Add(1)
	}
	if slow {
		bk.slow.Add(1)
	}
}

// sum totals the buckets that fall within the window ending at now: the
// current, partly filled bucket and the windowBuckets-1 before it.
func (w *window) sum(now int64) (requests, failures, slow uint64) {
	e := w.epochAt(now)
	for i := range w.buckets {
		bk := &w.buckets[i]
		be := bk.epoch.Load()
		if be < 0 || be > e || be <= e-windowBuckets {
			continue
		}
		requests += bk.requests.Load()
		failures += bk.failures.Load()
		slow += bk.slow.Load()
	}
	return requests, failures, slow
}

// reset forgets every sample. The caller makes sure no sample is being
// recorded concurrently (the breaker resets only before it publishes a new
// closed generation, and records only samples of the current generation).
func (w *window) reset() {
	for i := range w.buckets {
		bk := &w.buckets[i]
		bk.epoch.Store(epochEmpty)
		bk.requests.Store(0)
		bk.failures.Store(0)
		bk.slow.Store(0)
	}
}

func (w *window) epochAt(now int64) int64 {
	if now < 0 {
		return 0
	}
	return now / w.width
}
