package redistier

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/caddy-smartproxy/smartproxy/ratelimit/redisstore"
)

// ErrDown is returned by every call while the Client knows Redis is
// unreachable; the cache treats it as a miss.
var ErrDown = errors.New("shared cache redis unavailable")

// ErrClosed is returned by every call after Close.
var ErrClosed = errors.New("shared cache redis client closed")

// The reply guard's bounds: a record, RESP framing and a pipelined GET of
// a lock beside it (replySlack); and what a Cluster client reads when it
// starts (COMMAND: about 240 commands of ten-odd elements each, some 150
// KiB; CLUSTER SLOTS: one element per slot range), which a record-sized
// budget alone would refuse.
const (
	replySlack    = 4 << 10
	minReplyBytes = 1 << 20
	maxAggregate  = 16384
	maxElements   = 1 << 16
)

// Client is one connection pool to one Redis, shared by the Tiers of
// every route that uses it, with its health state and its purge
// subscription. Safe for concurrent use; must not be copied.
type Client struct {
	s   Settings
	rdb redis.UniversalClient
	id  string // this instance, to skip its own purge messages

	down        atomic.Bool
	closed      atomic.Bool
	transitions atomic.Uint64
	errs        atomic.Uint64
	mu          sync.Mutex // serialises transitions and OnStateChange

	tiersMu sync.Mutex
	tiers   map[string]*Tier // by scope hash

	pendMu  sync.Mutex
	pending []pendingPurge // purges made while Redis was down (replay.go)

	ps     *redis.PubSub // the purge subscription
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New validates s and returns a Client connected lazily: New makes no
// network call, so a Redis that is down when the config loads costs the
// first request one Timeout.
func New(s Settings) (*Client, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	c := &Client{s: s, id: hex.EncodeToString(idb[:]), tiers: make(map[string]*Tier)}
	c.rdb = redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:            s.Addresses,
		MasterName:       s.MasterName,
		Username:         s.Username,
		Password:         s.Password,
		SentinelUsername: s.Username,
		SentinelPassword: s.Password,
		DB:               s.DB,
		// TLS and the reply guard, as the rate limiter's store has them,
		// with room for the largest record.
		Dialer: redisstore.GuardedDialer(s.DialTimeout, s.TLS, redisstore.GuardLimits{
			ReplyBytes: max(s.MaxEntryBytes+replySlack, minReplyBytes),
			Aggregate:  maxAggregate,
			Elements:   maxElements,
		}),
		DialTimeout:  s.DialTimeout,
		ReadTimeout:  s.Timeout,
		WriteTimeout: s.Timeout,
		PoolTimeout:  s.Timeout,
		// The request's deadline bounds every wait; a retry would double it.
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
		DisableIdentity:       true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	// No channel yet: the goroutine subscribes, so New makes no call.
	c.ps = c.rdb.Subscribe(c.ctx)
	c.wg.Add(2)
	go c.probe()
	go c.subscribe(c.ps)
	return c, nil
}

// Settings returns the settings in force, defaults applied.
func (c *Client) Settings() Settings { return c.s }

// Down reports whether Redis is considered unreachable.
func (c *Client) Down() bool { return c.down.Load() }

// Transitions reports how many times the Client went down or came back.
func (c *Client) Transitions() uint64 { return c.transitions.Load() }

// Errors reports how many calls failed.
func (c *Client) Errors() uint64 { return c.errs.Load() }

// call runs fn with a deadline of Timeout, unless Redis is known to be
// down. A failure that is not the caller's own context ending marks the
// Client down.
func (c *Client) call(ctx context.Context, fn func(context.Context) error) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if c.down.Load() {
		return ErrDown
	}
	cctx, cancel := context.WithTimeout(ctx, c.s.Timeout)
	err := fn(cctx)
	cancel()
	if err == nil || errors.Is(err, redis.Nil) {
		return nil
	}
	c.errs.Add(1)
	if ctx.Err() == nil && !isReplyError(err) {
		c.transition(true, err)
	}
	return err
}

// isReplyError reports whether err is an error reply of a Redis that
// answered (a script error, a wrong type): no sign that it is down.
func isReplyError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, context.DeadlineExceeded)
}

// transition moves the Client down or up, counting it and telling
// OnStateChange, unless it is there already.
func (c *Client) transition(down bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() || c.down.Load() == down {
		return
	}
	c.down.Store(down)
	c.transitions.Add(1)
	if c.s.OnStateChange != nil {
		c.s.OnStateChange(down, err)
	}
}

// probe PINGs Redis every ProbeInterval while the Client is down, and
// brings it up on the first answer.
func (c *Client) probe() {
	defer c.wg.Done()
	t := time.NewTicker(c.s.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if !c.down.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.s.DialTimeout+c.s.Timeout)
		err := c.rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			c.transition(false, nil)
			c.replay()
		}
	}
}

// Tier returns the Tier of the route whose scope (server, site and route)
// is scope, registered for the purges other instances publish until its
// Close.
func (c *Client) Tier(scope string) *Tier {
	t := newTier(c, scope)
	c.tiersMu.Lock()
	c.tiers[t.scope] = t
	c.tiersMu.Unlock()
	return t
}

// forget unregisters t.
func (c *Client) forget(t *Tier) {
	c.tiersMu.Lock()
	if c.tiers[t.scope] == t {
		delete(c.tiers, t.scope)
	}
	c.tiersMu.Unlock()
}

// tier returns the registered Tier of a scope hash.
func (c *Client) tier(scope string) *Tier {
	c.tiersMu.Lock()
	defer c.tiersMu.Unlock()
	return c.tiers[scope]
}

// Close stops the probe and the subscription, waits for them, and closes
// every connection. Calls fail with ErrClosed afterwards. Idempotent.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.cancel()
	_ = c.ps.Close()
	err := c.rdb.Close()
	c.wg.Wait()
	if err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("closing shared cache redis client: %w", err)
	}
	return nil
}
