package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/caddy-smartproxy/smartproxy/ratelimit"
)

// ErrUnavailable is returned by Allow under FailClosed while Redis cannot be
// reached; the request must be refused (503), not counted as rate limited.
var ErrUnavailable = errors.New("redis rate limit store unavailable")

// ErrClosed is returned by Allow after Close.
var ErrClosed = errors.New("redis rate limit store closed")

// errBusy is the cause given when a request spent its whole ReadTimeout
// waiting for calls other requests for its key made.
var errBusy = errors.New("timed out waiting for a shared redis call")

// minPerShard is the fewest keys a lease shard should hold.
const minPerShard = 16

// Store decides requests against token buckets shared through Redis. It is
// safe for concurrent use and must not be copied after New.
type Store struct {
	settings Settings
	client   *redis.Client
	// call runs the script; a field so tests can stand in for Redis.
	call     callFunc
	fallback *ratelimit.Limiter

	// lease and one are the script calls for a lease and for one token.
	lease, one *ask
	lifetime   time.Duration

	epoch time.Time
	seed  maphash.Seed
	// long digests keys longer than ratelimit.MaxKeyBytes for the lease
	// table.
	long ratelimit.KeyHasher
	mask uint64
	// shards hold the leases; one shard serves Global mode.
	shards []shard

	health
}

// New validates s and returns a Store connected lazily to Redis: New makes
// no network call, so a Redis that is down when the config loads costs only
// the first request's call, which then applies the failure policy.
func New(s Settings) (*Store, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	fb, err := ratelimit.New(ratelimit.Settings{
		RequestsPerSecond: s.RequestsPerSecond,
		Burst:             s.Burst,
		MaxKeys:           s.MaxKeys,
		Global:            s.Global,
		Now:               s.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: fallback limiter: %w", ErrInvalidSettings, err)
	}
	client := redis.NewClient(&redis.Options{
		Addr:     s.Address,
		Username: s.Username,
		Password: s.Password,
		DB:       s.DB,
		// TLS, and the guard on every connection against replies that
		// would make go-redis allocate without bound (see guard.go).
		Dialer:       dialer(s.DialTimeout, s.TLS),
		DialTimeout:  s.DialTimeout,
		ReadTimeout:  s.ReadTimeout,
		WriteTimeout: s.WriteTimeout,
		// A request waits for a pooled connection no longer than it may
		// wait for Redis at all.
		PoolTimeout: s.ReadTimeout,
		// The script's replies are tiny: small buffers keep each pooled
		// connection's memory small.
		ReadBufferSize:  connBufferSize,
		WriteBufferSize: connBufferSize,
		// The request's deadline bounds every wait, pool and dial included.
		ContextTimeoutEnabled: true,
		// A retry would double a request's wait; the failure policy and
		// the probe take over instead. One dial attempt for the same reason.
		MaxRetries:      -1,
		DialerRetries:   1,
		DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
	call := func(ctx context.Context, rkey string, a *ask) (grant, error) {
		return take(ctx, client, rkey, a)
	}
	// The probe runs the script itself, on a key of its own: an answer
	// then means requests will work too (a PING would also succeed on a
	// read-only replica, or for a user the ACL forbids our keys).
	probeKey, probeAsk := s.KeyPrefix+probeSuffix, newAsk(s.RequestsPerSecond, s.Burst, 1)
	ping := func(ctx context.Context) error {
		_, err := take(ctx, client, probeKey, probeAsk)
		return err
	}
	return newStore(s, fb, client, call, ping), nil
}

// callFunc runs the script for a Redis key as a asks.
type callFunc func(ctx context.Context, rkey string, a *ask) (grant, error)

// newStore builds a Store whose Redis is reached through call and ping;
// client, closed by Close, is nil in tests that stand in for Redis.
func newStore(s Settings, fb *ratelimit.Limiter, client *redis.Client, call callFunc, ping func(context.Context) error) *Store {
	size, lifetime := s.Lease()
	st := &Store{
		settings: s,
		client:   client,
		call:     call,
		fallback: fb,
		lease:    newAsk(s.RequestsPerSecond, s.Burst, size),
		one:      newAsk(s.RequestsPerSecond, s.Burst, 1),
		lifetime: lifetime,
		epoch:    s.Now(),
		seed:     maphash.MakeSeed(),
		long:     ratelimit.NewKeyHasher(),
	}
	n := maxShards
	for n > 1 && (s.Global || s.MaxKeys/n < minPerShard) {
		n /= 2
	}
	st.shards = make([]shard, n)
	st.mask = uint64(n - 1)
	base, extra := s.MaxKeys/n, s.MaxKeys%n
	for i := range st.shards {
		c := base
		if i < extra {
			c++
		}
		st.shards[i].init(max(c, 1))
	}
	st.health.start(s, ping)
	return st
}

// clock converts an instant to nanoseconds on the Store's clock, which starts
// at New. Instants from time.Now carry a monotonic reading, so wall-clock
// steps change nothing.
func (s *Store) clock(now time.Time) int64 { return int64(now.Sub(s.epoch)) }

// Allow decides one request for key. A key with a live lease is decided
// locally, without Redis and without allocating. Otherwise one Redis call
// per key is in flight at a time: concurrent requests for the key wait for
// it rather than calling too. No request waits for Redis longer than
// ReadTimeout. When Redis fails, or a request runs out of time waiting for
// others' calls, the FailurePolicy decides: FailOpen returns the local
// fallback limiter's decision and a nil error, FailClosed a refusal whose
// RetryAfter is ProbeInterval and an error wrapping ErrUnavailable. ctx
// only lets a waiting request give up early (its error is then ctx.Err());
// a Redis call runs to its own deadline, since other requests may be
// waiting for it. A key longer than ratelimit.MaxKeyBytes is held locally
// as its 128-bit digest and in Redis under its SHA-256 (see redisKey).
func (s *Store) Allow(ctx context.Context, key string) (ratelimit.Decision, error) {
	switch s.state.Load() {
	case stateDegraded:
		return s.degraded(key)
	case stateClosed:
		return ratelimit.Decision{}, ErrClosed
	}
	if s.settings.Global {
		key = ""
	}
	if len(key) <= ratelimit.MaxKeyBytes {
		return decide(s, ctx, key, key, maphash.String(s.seed, key))
	}
	// A long key's lease is found by its digest, allocating nothing.
	d := s.long.Sum(key)
	return decide(s, ctx, key, d[:], binary.LittleEndian.Uint64(d[:]))
}

// keyBytes is the lease table's lookup key: a short key itself, or a long
// key's digest in an array on the caller's stack.
type keyBytes interface{ string | []byte }

// decide is Allow for key, whose entry in the lease table is under lk in
// the shard hash picks.
func decide[K keyBytes](s *Store, ctx context.Context, key string, lk K, hash uint64) (ratelimit.Decision, error) {
	t := s.clock(s.settings.Now())
	deadline := t + int64(s.settings.ReadTimeout)
	sh := &s.shards[hash&s.mask]
	sh.mu.Lock()
	for {
		e := sh.index[string(lk)]
		if e == nil {
			if e = sh.add(string(lk), s.redisKey(key), t); e == nil {
				sh.mu.Unlock()
				return s.direct(key, t)
			}
		}
		if e.tokens > 0 && t < e.expires {
			d := e.allowed(t)
			sh.mu.Unlock()
			return d, nil
		}
		if t < e.refuseUntil {
			d := e.refused(t)
			sh.mu.Unlock()
			return d, nil
		}
		if t >= deadline {
			// Only after waiting: other requests took every token the
			// calls we waited for brought.
			sh.mu.Unlock()
			return s.failed(key, errBusy)
		}
		c := e.flight
		if c == nil {
			return s.lead(sh, e, key, t, time.Duration(deadline-t))
		}
		c.waiters++
		sh.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return ratelimit.Decision{}, ctx.Err()
		}
		if c.err != nil {
			// The leader has counted the error and set the state.
			return s.failed(key, c.err)
		}
		t = s.clock(s.settings.Now())
		sh.mu.Lock()
	}
}

// lead makes the Redis call for e on behalf of every request for key that
// arrives meanwhile, and decides its own request from the reply. The caller
// holds sh.mu; lead releases it.
func (s *Store) lead(sh *shard, e *entry, key string, t int64, budget time.Duration) (ratelimit.Decision, error) {
	c := &call{done: make(chan struct{})}
	e.flight = c
	rkey := e.rkey
	sh.mu.Unlock()

	g, err := s.redisCall(rkey, s.lease, budget)
	now := s.clock(s.settings.Now())

	sh.mu.Lock()
	e.flight = nil
	var d ratelimit.Decision
	if err == nil {
		d = e.apply(g, t, now, s.lifetime)
	}
	sh.mu.Unlock()
	c.err = err
	close(c.done)
	if err != nil {
		return s.failed(key, err)
	}
	return d, nil
}

// direct decides a request for a key the lease table has no room for: one
// token from Redis, nothing kept.
func (s *Store) direct(key string, t int64) (ratelimit.Decision, error) {
	g, err := s.redisCall(s.redisKey(key), s.one, s.settings.ReadTimeout)
	if err != nil {
		return s.failed(key, err)
	}
	var e entry
	return e.apply(g, t, s.clock(s.settings.Now()), 0), nil
}

// Redis keys are KeyPrefix followed by one of these, so that no request key
// can name the global bucket or the probe's.
const (
	keySuffix    = "k:"
	hashSuffix   = "h:"
	globalSuffix = "g"
	probeSuffix  = "p"
)

// redisKey is the Redis key of key's bucket. A key longer than
// ratelimit.MaxKeyBytes is named by its SHA-256, the same on every
// instance, so no client can make this store send Redis a key of more than
// KeyPrefix and 66 bytes, and no two keys share a bucket short of a SHA-256
// collision.
func (s *Store) redisKey(key string) string {
	switch {
	case s.settings.Global:
		return s.settings.KeyPrefix + globalSuffix
	case len(key) > ratelimit.MaxKeyBytes:
		sum := sha256.Sum256([]byte(key))
		return s.settings.KeyPrefix + hashSuffix + hex.EncodeToString(sum[:])
	}
	return s.settings.KeyPrefix + keySuffix + key
}

// redisCall runs the script for rkey, giving up after budget of real time
// (the Now seam may not be real time), and records the outcome in the
// health counters.
func (s *Store) redisCall(rkey string, a *ask, budget time.Duration) (grant, error) {
	ctx, cancel := context.WithTimeout(s.ctx, budget)
	g, err := s.call(ctx, rkey, a)
	short := budget < s.settings.ReadTimeout && ctx.Err() == context.DeadlineExceeded
	cancel()
	s.calls.Add(1)
	switch {
	case err == nil:
	case short:
		// A request that spent most of its time waiting for others ran
		// out of it: no sign that Redis is unavailable.
		s.errs.Add(1)
	default:
		s.fail(err)
	}
	return g, err
}

// failed applies the FailurePolicy to a request whose Redis call failed.
func (s *Store) failed(key string, cause error) (ratelimit.Decision, error) {
	if s.settings.FailurePolicy == FailClosed {
		return ratelimit.Decision{RetryAfter: s.settings.ProbeInterval},
			fmt.Errorf("%w: %w", ErrUnavailable, cause)
	}
	return s.fallback.Allow(key, s.settings.Now()), nil
}

// degraded decides a request while Redis is known to be unavailable,
// without touching Redis and without allocating.
func (s *Store) degraded(key string) (ratelimit.Decision, error) {
	if s.settings.FailurePolicy == FailClosed {
		return ratelimit.Decision{RetryAfter: s.settings.ProbeInterval}, ErrUnavailable
	}
	return s.fallback.Allow(key, s.settings.Now()), nil
}

// Settings returns the settings s was made with, defaults applied, so a
// caller keeping Stores across config reloads can tell whether one still
// fits.
func (s *Store) Settings() Settings { return s.settings }

// Keys reports how many keys hold local lease state. It takes every shard's
// lock in turn, so it is meant for metrics and tests.
func (s *Store) Keys() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += sh.len()
		sh.mu.Unlock()
	}
	return n
}

// Close stops the probe, waits for it, and closes the Redis client and its
// connections. Allow returns ErrClosed afterwards. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		if s.client != nil {
			if err := s.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
				s.closeErr = fmt.Errorf("closing redis client: %w", err)
			}
		}
	})
	return s.closeErr
}
