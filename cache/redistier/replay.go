package redistier

import (
	"time"

	"github.com/caddy-smartproxy/smartproxy/cache"
)

// Purges made while Redis is down cannot reach it nor the other
// instances. The Client keeps them (at most maxPending; past that, each
// Tier's purges collapse into one purge of everything it holds) and
// replays them once Redis is back: after two probe intervals, by when the
// other instances' subscriptions, which retry every probe interval, have
// reconnected. Best effort: an instance that is down itself then, or a
// purge made while the subscriptions are reconnecting, is not covered.

// maxPending bounds the purges kept while Redis is down.
const maxPending = 64

type pendingPurge struct {
	t *Tier
	p cache.TierPurge
}

// keep records a purge that did not reach Redis.
func (c *Client) keep(t *Tier, p cache.TierPurge) {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	if len(c.pending) < maxPending {
		c.pending = append(c.pending, pendingPurge{t, p})
		return
	}
	// Full: one purge of everything per Tier says the same and more.
	seen := map[*Tier]bool{t: true}
	out := []pendingPurge{{t, cache.TierPurge{Kind: cache.PurgeAll}}}
	for _, pp := range c.pending {
		if !seen[pp.t] {
			seen[pp.t] = true
			out = append(out, pendingPurge{pp.t, cache.TierPurge{Kind: cache.PurgeAll}})
		}
	}
	c.pending = out
}

// Pending reports how many purges wait for Redis to come back.
func (c *Client) Pending() int {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	return len(c.pending)
}

// replay waits two probe intervals and sends the kept purges, keeping
// what fails again. It runs on the probe goroutine after Redis came back.
func (c *Client) replay() {
	select {
	case <-c.ctx.Done():
		return
	case <-time.After(2 * c.s.ProbeInterval):
	}
	c.pendMu.Lock()
	todo := c.pending
	c.pending = nil
	c.pendMu.Unlock()
	for _, pp := range todo {
		_ = pp.t.Purge(c.ctx, pp.p) // keeps it again if Redis is down again
	}
}

// purgeFailed keeps p when err says Redis is down, for replay.
func (t *Tier) purgeFailed(p cache.TierPurge, err error) {
	if err != nil && t.c.Down() && !t.c.closed.Load() {
		t.c.keep(t, p)
	}
}
