package breaker

import (
	"fmt"
	"math"
	"time"
)

// transition is one state change waiting to be told to OnStateChange.
type transition struct {
	from, to State
	reason   string
}

// trip opens a closed breaker, unless the generation that saw the failure
// has already been superseded (another goroutine tripped it first).
func (b *Breaker) trip(word uint64, reason string) {
	b.mu.Lock()
	if b.word.Load() != word {
		b.mu.Unlock()
		return
	}
	b.open(reason)
	b.unlockAndNotify()
}

// reportProbe settles one probe of the half-open generation word.
func (b *Breaker) reportProbe(word uint64, success bool, latency time.Duration) {
	b.mu.Lock()
	if b.word.Load() != word {
		b.mu.Unlock()
		b.ignored.Add(1)
		return
	}
	b.probes.Add(-1)
	switch {
	case !success:
		b.open("probe failed")
	case b.s.LatencyThreshold > 0 && latency > b.s.LatencyThreshold:
		b.open(fmt.Sprintf("probe took %v, over latency threshold %v", latency, b.s.LatencyThreshold))
	default:
		b.streak++
		if b.streak >= b.s.SuccessThreshold {
			b.close(fmt.Sprintf("%d consecutive probes succeeded", b.streak))
		}
	}
	b.unlockAndNotify()
}

// open moves to the open state for the next, doubled backoff. b.mu is held.
func (b *Breaker) open(reason string) {
	b.consTrips++
	b.trips.Add(1)
	d := b.jitter(backoff(b.s.BaseBackoff, b.s.MaxBackoff, b.consTrips))
	b.backoff.Store(int64(d))
	now := b.since(b.s.Now())
	b.openUntil.Store(now + min(int64(d), math.MaxInt64-max(now, 0)))
	b.publish(Open, fmt.Sprintf("%s; open for %v", reason, d))
}

// toHalfOpen moves an open breaker whose backoff ran out to half-open and
// returns the new word. b.mu is held.
func (b *Breaker) toHalfOpen() uint64 {
	b.probes.Store(0)
	b.streak = 0
	return b.publish(HalfOpen, "backoff elapsed")
}

// close moves a half-open breaker to closed and resets the backoff and the
// window, so failures from before the trip cannot trip it again. b.mu is
// held; everything is reset before the new closed generation is published,
// so no request of that generation sees stale counts.
func (b *Breaker) close(reason string) {
	b.consTrips = 0
	b.backoff.Store(0)
	b.fails.Store(0)
	if b.win != nil {
		b.win.reset()
	}
	b.publish(Closed, reason)
}

// publish stores the next generation in state to and queues the transition
// for OnStateChange. b.mu is held.
func (b *Breaker) publish(to State, reason string) uint64 {
	old := b.word.Load()
	w := (old>>2+1)<<2 | uint64(to)
	b.word.Store(w)
	if b.s.OnStateChange != nil {
		b.pending = append(b.pending, transition{from: State(old & 3), to: to, reason: reason})
	}
	return w
}

// unlockAndNotify releases b.mu and delivers queued transitions, unless
// another goroutine is already delivering: that one will deliver ours too,
// after its own, which keeps the order and never runs the hook
// concurrently with itself. The hook runs without b.mu held.
func (b *Breaker) unlockAndNotify() {
	if b.notifying || b.head == len(b.pending) {
		b.mu.Unlock()
		return
	}
	b.notifying = true
	inHook := false
	defer func() {
		// Only reached with inHook set if the hook panicked: let the next
		// transition deliver again instead of queueing forever.
		if inHook {
			b.mu.Lock()
			b.notifying = false
			b.mu.Unlock()
		}
	}()
	for b.head < len(b.pending) {
		t := b.pending[b.head]
		b.pending[b.head] = transition{}
		b.head++
		b.mu.Unlock()
		inHook = true
		b.s.OnStateChange(t.from, t.to, t.reason)
		inHook = false
		b.mu.Lock()
	}
	b.pending, b.head = b.pending[:0], 0
	b.notifying = false
	b.mu.Unlock()
}

// windowVerdict returns why the window's figures at now trip the breaker,
// or "" if they do not.
func (b *Breaker) windowVerdict(now int64) string {
	req, failed, slow := b.win.sum(now)
	if req == 0 || req < uint64(b.s.MinRequests) {
		return ""
	}
	if r := b.s.ErrorRatio; r > 0 && float64(failed) > r*float64(req) {
		return fmt.Sprintf("error ratio %d/%d over %v exceeds %v", failed, req, b.s.Window, r)
	}
	// The nearest-rank q-quantile exceeds the threshold exactly when fewer
	// than q*req requests were at or under it.
	if t, q := b.s.LatencyThreshold, b.s.LatencyQuantile; t > 0 && float64(req-slow) < q*float64(req) {
		return fmt.Sprintf("p%g latency over %v exceeds %v (%d/%d requests slower)", q*100, b.s.Window, t, slow, req)
	}
	return ""
}

func consecutiveReason(n int64) string {
	return fmt.Sprintf("%d consecutive failures", n)
}
