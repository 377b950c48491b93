package redistier

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-smartproxy/smartproxy/cache"
)

// maxPurgeMessage bounds a purge message read from the channel (the admin
// API takes purge requests of at most 64 KiB).
const maxPurgeMessage = 64 << 10

// purgeMessage is what the purge channel carries.
type purgeMessage struct {
	From  string          `json:"f"`
	Scope string          `json:"s"`
	Kind  cache.PurgeKind `json:"k"`
	Arg   string          `json:"a,omitempty"`
	Tags  []string        `json:"t,omitempty"`
}

// channel is the purge channel's name.
func (c *Client) channel() string { return c.s.KeyPrefix + "purge" }

// publish tells the other instances of a purge made here.
func (c *Client) publish(ctx context.Context, scope string, p cache.TierPurge) error {
	msg, err := json.Marshal(purgeMessage{From: c.id, Scope: scope, Kind: p.Kind, Arg: p.Arg, Tags: p.Tags})
	if err != nil {
		return err
	}
	return c.call(ctx, func(ctx context.Context) error { return c.rdb.Publish(ctx, c.channel(), msg).Err() })
}

// subscribe listens on the purge channel until Close, applying every other
// instance's purge to the registered Tier of its scope. go-redis
// re-subscribes on its own after a lost connection; while Redis is down
// this goroutine waits for it.
func (c *Client) subscribe(ps *redis.PubSub) {
	defer c.wg.Done()
	// Close closes ps, which ends a read blocked on its connection.
	_ = ps.Subscribe(c.ctx, c.channel()) // on failure, ReceiveMessage reconnects and subscribes
	for {
		m, err := ps.ReceiveMessage(c.ctx)
		if c.ctx.Err() != nil {
			return
		}
		if err != nil {
			// A lost connection: ReceiveMessage reconnects on the next
			// call; do not spin while Redis is down.
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(c.s.ProbeInterval):
			}
			continue
		}
		c.deliver(m.Payload)
	}
}

// deliver applies one purge message, if it is well formed, from another
// instance, and for a scope this instance serves.
func (c *Client) deliver(payload string) {
	if len(payload) > maxPurgeMessage {
		return
	}
	var pm purgeMessage
	if json.Unmarshal([]byte(payload), &pm) != nil || pm.From == c.id {
		return
	}
	switch pm.Kind {
	case cache.PurgeKey, cache.PurgePrefix, cache.PurgeAll:
	case cache.PurgeTags:
		if len(pm.Tags) == 0 {
			return
		}
	default:
		return
	}
	t := c.tier(pm.Scope)
	if t == nil {
		return
	}
	if apply := t.applier(); apply != nil {
		apply(cache.TierPurge{Kind: pm.Kind, Arg: pm.Arg, Tags: pm.Tags})
	}
}
