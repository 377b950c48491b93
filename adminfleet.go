package smartproxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/ratelimit/redisstore"
)

// Fleet-wide admin state (issue 20, part 2). With admin_state {"store":
// "redis"}, the state the admin API sets is also written to one Redis hash
// (PREFIX+"state", a field per route id and backend) and published on
// PREFIX+"changes". Every instance subscribed there applies what others
// publish at once, and reads the whole hash when it starts and each time
// its subscription (re)connects, so an instance that missed messages
// while Redis was unreachable catches up. The hash is the truth: a
// backend it does not name is ready at the configured weight. A change
// made while Redis is unreachable applies to the instance that took it
// until that instance reads the hash again.
//
// Route ids (server, site and route name) must be the same on every
// instance for the state to meet: give the instances the same config.

// fleetStores keeps the Redis clients across reloads, one per admin_state
// section (secrets included in the key, never shown).
var fleetStores = newShared("admin-redis", (*fleetState).close)

// fleetGuard bounds one Redis reply: the whole hash, read at start, is
// the largest (two elements per backend of every route; 100,000 backends'
// entries are about 10 MiB).
var fleetGuard = redisstore.GuardLimits{ReplyBytes: 32 << 20, Aggregate: 1 << 18, Elements: 1 << 18}

// fleetEntry is one backend's shared state, the hash field's JSON value.
type fleetEntry struct {
	State  string `json:"state"`
	Weight *int   `json:"weight,omitempty"` // nil: the configured weight
	Base   int    `json:"base,omitempty"`   // the configured weight it replaced
}

// fleetMessage is what a change publishes: the field and its new entry
// (nil: the field was deleted, the backend is ready).
type fleetMessage struct {
	From  string      `json:"from"`
	Field string      `json:"field"`
	Entry *fleetEntry `json:"entry,omitempty"`
}

// fleetState is one Redis shared by the instances' admin state.
type fleetState struct {
	rdb     redis.UniversalClient
	hash    string
	channel string
	id      string // this instance, to skip its own messages
	timeout time.Duration
	logger  *zap.Logger

	mu     sync.Mutex            // guards known
	known  map[string]fleetEntry // the hash as last read or told
	synced atomic.Bool           // known has been read from Redis at least once
	down   atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// fleetField is the hash field of a backend in a route.
func fleetField(route, backendName string) string { return route + "\n" + backendName }

// acquireFleet gets the Redis of cfg from the pool (or connects to it,
// reading the stored state once before it returns), held by hs.
func acquireFleet(hs *holds, cfg *config.AdminState, logger *zap.Logger) (*fleetState, error) {
	repl := caddy.NewReplacer()
	addrs := cfg.Addresses()
	for i, a := range addrs {
		addrs[i] = repl.ReplaceAll(a, "")
	}
	tc, err := redisTLS(cfg.Redis.TLS)
	if err != nil {
		return nil, fmt.Errorf("admin_state.redis: %w", err)
	}
	logRedisTo(hs, logger, repl.ReplaceAll(cfg.Redis.Password, "")) // go-redis's own messages (redislog.go)
	return fleetStores.acquire(hs, stateKey{settings: cfg}, func() (*fleetState, error) {
		dial := time.Duration(cfg.Redis.DialTimeout)
		if dial <= 0 {
			dial = time.Second
		}
		timeout := cfg.TimeoutOrDefault()
		var idb [8]byte
		_, _ = rand.Read(idb[:])
		prefix := cfg.KeyPrefixOrDefault()
		f := &fleetState{
			rdb: redis.NewUniversalClient(&redis.UniversalOptions{
				Addrs:      addrs,
				MasterName: cfg.Redis.MasterName,
				Username:   repl.ReplaceAll(cfg.Redis.Username, ""),
				Password:   repl.ReplaceAll(cfg.Redis.Password, ""),
				DB:         cfg.Redis.DB,
				// TLS and the reply guard, as the other Redis users have
				// them.
				Dialer:                   redisstore.GuardedDialer(dial, tc, fleetGuard),
				DialTimeout:              dial,
				ReadTimeout:              timeout,
				WriteTimeout:             timeout,
				PoolTimeout:              timeout,
				ContextTimeoutEnabled:    true,
				MaxRetries:               -1,
				DisableIdentity:          true,
				MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
			}),
			hash:    prefix + "state",
			channel: prefix + "changes",
			id:      hex.EncodeToString(idb[:]),
			timeout: timeout,
			logger:  logger.With(zap.Strings("redis", addrs)),
			known:   map[string]fleetEntry{},
		}
		f.ctx, f.cancel = context.WithCancel(context.Background())
		// Read at start: a backend drained on another instance is drained
		// here before this config serves. Redis down: each instance's
		// own state until the subscription connects.
		if err := f.resync(); err != nil {
			f.logger.Warn("shared admin state unreachable; this instance keeps its own until Redis answers", zap.Error(err))
		}
		f.wg.Add(1)
		go f.subscribe()
		return f, nil
	})
}

// close stops the subscription and closes the connections.
func (f *fleetState) close() error {
	f.cancel()
	err := f.rdb.Close()
	f.wg.Wait()
	if err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("closing shared admin state redis client: %w", err)
	}
	return nil
}

// join makes a, the admin state of a member being built, follow this
// store: it takes the stored state (ready when the hash does not name it,
// once the hash has been read).
func (f *fleetState) join(a *backendAdmin) {
	a.fleet.Store(f)
	f.mu.Lock()
	e, ok := f.known[fleetField(a.route, a.backend)]
	f.mu.Unlock()
	if !ok {
		if !f.synced.Load() {
			return // Redis not read yet: keep what this instance has
		}
		e = fleetEntry{State: adminReady.String()}
	}
	f.applyTo(a, e)
}

// subscribe applies other instances' changes until close, and reads the
// whole hash again each time the subscription (re)connects.
func (f *fleetState) subscribe() {
	defer f.wg.Done()
	ps := f.rdb.Subscribe(f.ctx, f.channel)
	defer ps.Close()
	for {
		msg, err := ps.Receive(f.ctx)
		if f.ctx.Err() != nil {
			return
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if err := f.resync(); err != nil {
					f.logger.Warn("reading the shared admin state", zap.Error(err))
				}
			}
		case *redis.Message:
			f.receive(m.Payload)
		}
		if err != nil {
			if !f.down.Swap(true) {
				f.logger.Warn("shared admin state unreachable; this instance keeps its own until Redis answers", zap.Error(err))
			}
			select { // go-redis reconnects on the next Receive
			case <-f.ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// resync reads the whole hash and applies it: every backend it names takes
// its stored state, every other backend of the routes this store serves
// is ready at its configured weight.
func (f *fleetState) resync() error {
	ctx, cancel := context.WithTimeout(f.ctx, f.timeout)
	defer cancel()
	raw, err := f.rdb.HGetAll(ctx, f.hash).Result()
	if err != nil {
		return err
	}
	known := make(map[string]fleetEntry, len(raw))
	for k, v := range raw {
		var e fleetEntry
		if json.Unmarshal([]byte(v), &e) != nil || !e.valid() {
			f.logger.Warn("ignoring a malformed shared admin state entry", zap.String("field", k))
			continue
		}
		known[k] = e
	}
	f.mu.Lock()
	f.known = known
	f.mu.Unlock()
	f.synced.Store(true)
	if f.down.Swap(false) {
		f.logger.Info("shared admin state reachable again")
	}
	f.each(func(a *backendAdmin) {
		e, ok := known[fleetField(a.route, a.backend)]
		if !ok {
			e = fleetEntry{State: adminReady.String()}
		}
		f.applyTo(a, e)
	})
	return nil
}

// parseFleetMessage decodes a published change; false: it is not one
// this code would have sent (too long, not JSON, no field, an entry with
// an unknown state or a weight out of range).
func parseFleetMessage(payload string) (fleetMessage, bool) {
	var m fleetMessage
	if len(payload) > 64<<10 || json.Unmarshal([]byte(payload), &m) != nil || m.Field == "" ||
		(m.Entry != nil && !m.Entry.valid()) {
		return fleetMessage{}, false
	}
	return m, true
}

// receive applies one published change.
func (f *fleetState) receive(payload string) {
	m, ok := parseFleetMessage(payload)
	if !ok {
		f.logger.Warn("ignoring a malformed shared admin state message", zap.Int("bytes", len(payload)))
		return
	}
	if m.From == f.id {
		return
	}
	e := fleetEntry{State: adminReady.String()}
	f.mu.Lock()
	if m.Entry != nil {
		e = *m.Entry
		f.known[m.Field] = e
	} else {
		delete(f.known, m.Field)
	}
	f.mu.Unlock()
	f.each(func(a *backendAdmin) {
		if fleetField(a.route, a.backend) == m.Field {
			f.applyTo(a, e)
		}
	})
}

// valid reports whether e is a state this code knows with a weight it
// accepts: what another instance (or anyone who can write to Redis) wrote
// is checked like an admin request.
func (e fleetEntry) valid() bool {
	_, ok := parseAdminState(e.State)
	return ok && (e.Weight == nil || backend.CheckWeight(*e.Weight) == nil) && backend.CheckWeight(e.Base) == nil
}

// each calls fn for every backend's admin state held for this store,
// outside the pool's lock (fn rebuilds pools).
func (f *fleetState) each(fn func(*backendAdmin)) {
	var as []*backendAdmin
	adminStates.Range(func(_, v any) bool {
		if a := v.(held[*backendAdmin]).v; a.fleet.Load() == f {
			as = append(as, a)
		}
		return true
	})
	for _, a := range as {
		fn(a)
	}
}

// applyTo gives a the state e and rebuilds its route's pools.
func (f *fleetState) applyTo(a *backendAdmin, e fleetEntry) {
	s, _ := parseAdminState(e.State)
	w := e.Weight
	if w == nil { // the configured weight: drop any live one
		if o := a.weight.Load(); o != nil {
			w = &o.base
		}
	}
	base := e.Base
	if e.Weight == nil && w != nil {
		base = *w
	}
	if a.set(s, w, base) {
		rebuildAdmin(a.route)
	}
}

// publish stores a's state in the hash (or deletes its field when it is
// ready at the configured weight) and tells the other instances.
func (f *fleetState) publish(a *backendAdmin) error {
	field := fleetField(a.route, a.backend)
	m := fleetMessage{From: f.id, Field: field}
	if s := a.load(); s != adminReady || a.weight.Load() != nil {
		e := fleetEntry{State: s.String()}
		if o := a.weight.Load(); o != nil {
			e.Weight, e.Base = &o.live, o.base
		}
		m.Entry = &e
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.timeout)
	defer cancel()
	_, err = f.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if m.Entry == nil {
			p.HDel(ctx, f.hash, field)
		} else {
			v, _ := json.Marshal(m.Entry)
			p.HSet(ctx, f.hash, field, v)
		}
		p.Publish(ctx, f.channel, payload)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sharing the state through redis: %w", err)
	}
	f.mu.Lock()
	if m.Entry == nil {
		delete(f.known, field)
	} else {
		f.known[field] = *m.Entry
	}
	f.mu.Unlock()
	return nil
}

// fleetNote is what the admin API's answer says of sharing a change.
func fleetNote(errs []error) string {
	if len(errs) == 0 {
		return "published"
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return "not published (this instance only): " + strings.Join(msgs, "; ")
}
