package balancer

import (
	"math/rand/v2"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// Slow start. A backend that became available less than Config.SlowStart ago
// is picked as if its weight were fraction x weight, the fraction growing
// linearly from rampFloor to 1 over the window. Strategies apply it without
// allocating, in two ways:
//
//   - the rotating and random strategies accept a pick of a ramping backend
//     with probability equal to the fraction and otherwise pick again, at
//     most rampTries times in all (the last pick stands, so a pool whose
//     backends are all ramping still serves). The ramping backend's share,
//     relative to any other's, is then fraction x their weight ratio (a
//     little more near the floor, where the try limit binds).
//   - the load-scanning strategies (least_connections, least_latency)
//     multiply its weight by the fraction in their load score, so under load
//     it is held to a proportionally smaller number of requests in flight,
//     and at low load accept it as above (see settle).
//
// The hash strategies do not ramp: a key must stay on its backend.
const (
	rampFloor = 0.1
	rampTries = 8
)

// ramp measures slow start. The zero ramp (window 0) never ramps.
type ramp struct {
	window time.Duration
	now    func() time.Time
}

// clock is a lazily read "now" for one pick, so a pick that meets no ramping
// backend never reads the clock.
type clock struct {
	now   func() time.Time
	nanos int64
	read  bool
}

func (c *clock) unixNano() int64 {
	if !c.read {
		c.nanos, c.read = c.now().UnixNano(), true
	}
	return c.nanos
}

// fraction reports b's share factor in [rampFloor, 1]: 1 unless slow start is
// on and b became available less than the window ago.
func (r *ramp) fraction(b *backend.Backend, c *clock) float64 {
	if r.window <= 0 {
		return 1
	}
	since := b.AvailableSince()
	if since.IsZero() {
		return 1
	}
	elapsed := c.unixNano() - since.UnixNano()
	if elapsed >= int64(r.window) {
		return 1
	}
	if elapsed < 0 { // marked available in the future: just starting
		elapsed = 0
	}
	return rampFloor + (1-rampFloor)*float64(elapsed)/float64(r.window)
}

// accept reports whether a pick of b stands: always for a backend at full
// share, else with probability equal to its fraction.
func (r *ramp) accept(b *backend.Backend, c *clock) bool {
	if r.window <= 0 {
		return true
	}
	f := r.fraction(b, c)
	return f >= 1 || rand.Float64() < f
}

// settle applies slow start to a scan's result on the try'th scan of a pick:
// the winner stands if it is not ramping or passes its acceptance draw (or
// nothing else can be had); a rejected winner that was strictly best gives
// way to the runner-up, while a rejected winner among ties asks for a new
// scan (ok false), whose random start may choose another of them. So under
// load the ramp works through the score, and at low load, where all tie,
// shares follow fraction x weight as in the random strategies.
func (r *ramp) settle(bs []*backend.Backend, t top2, c *clock, try int) (*backend.Backend, bool) {
	b := bs[t.best]
	if try == rampTries || t.second < 0 || r.accept(b, c) {
		return b, true
	}
	if t.secondS != t.bestS {
		return bs[t.second], true
	}
	return nil, false
}
