package redistier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-smartproxy/smartproxy/cache"
)

// errKeyTooLong is returned for a cache key over MaxKeyBytes: not shared.
var errKeyTooLong = errors.New("cache key too long to share")

// errRecordTooLarge is returned for a record over MaxEntryBytes read from
// Redis (which this package never writes): a miss.
var errRecordTooLarge = errors.New("record from redis over max_entry_bytes")

// maxFields bounds the fields of one URL's hash (its primary record and
// variants): a store that would pass it starts the hash afresh.
const maxFields = 33

// Tier is one route's part of a shared Redis: a cache.Tier. Safe for
// concurrent use.
type Tier struct {
	c     *Client
	scope string // 16 hex digits of SHA-256 of the route's scope
	base  string // KeyPrefix + "{" + scope + "}:"

	mu    sync.Mutex
	apply func(cache.TierPurge)
}

func newTier(c *Client, scope string) *Tier {
	sum := sha256.Sum256([]byte(scope))
	s := hex.EncodeToString(sum[:8])
	return &Tier{c: c, scope: s, base: c.s.KeyPrefix + "{" + s + "}:"}
}

// hashOf is the 32 hex digits naming s in keys.
func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func (t *Tier) entryKey(h string) string { return t.base + "e:" + h }
func (t *Tier) lockKey(h string) string  { return t.base + "l:" + h }

// Get implements cache.Tier.
func (t *Tier) Get(ctx context.Context, key, field string) ([]byte, error) {
	if len(key) > MaxKeyBytes {
		return nil, errKeyTooLong
	}
	var rec []byte
	err := t.c.call(ctx, func(ctx context.Context) error {
		b, err := t.c.rdb.HGet(ctx, t.entryKey(hashOf(key)), field).Bytes()
		rec = b
		return err
	})
	return t.bounded(rec, err)
}

// Poll implements cache.Tier: the primary record and the lock in one round
// trip.
func (t *Tier) Poll(ctx context.Context, key string) ([]byte, bool, error) {
	if len(key) > MaxKeyBytes {
		return nil, false, errKeyTooLong
	}
	h := hashOf(key)
	var rec []byte
	var lock string
	err := t.c.call(ctx, func(ctx context.Context) error {
		var rc *redis.StringCmd
		var lc *redis.StringCmd
		_, err := t.c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			rc = p.HGet(ctx, t.entryKey(h), "")
			lc = p.Get(ctx, t.lockKey(h))
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		rec, _ = rc.Bytes()
		lock, _ = lc.Result()
		return nil
	})
	rec, err = t.bounded(rec, err)
	return rec, lock != "" && lock != "pass", err
}

// bounded refuses a record larger than any this package writes.
func (t *Tier) bounded(rec []byte, err error) ([]byte, error) {
	if err == nil && len(rec) > t.c.s.MaxEntryBytes {
		return nil, errRecordTooLarge
	}
	return rec, err
}

// Lock implements cache.Tier: SET NX PX LockTimeout.
func (t *Tier) Lock(ctx context.Context, key string) (bool, error) {
	if len(key) > MaxKeyBytes {
		return false, errKeyTooLong
	}
	var ok bool
	err := t.c.call(ctx, func(ctx context.Context) error {
		var err error
		ok, err = t.c.rdb.SetNX(ctx, t.lockKey(hashOf(key)), t.c.id, t.c.s.LockTimeout).Result()
		return err
	})
	return ok, err
}

// Pass implements cache.Tier.
func (t *Tier) Pass(ctx context.Context, key string) error {
	if len(key) > MaxKeyBytes {
		return errKeyTooLong
	}
	return t.c.call(ctx, func(ctx context.Context) error {
		return t.c.rdb.Set(ctx, t.lockKey(hashOf(key)), "pass", PassTimeout).Err()
	})
}

// Put implements cache.Tier with one script call (putScript).
func (t *Tier) Put(ctx context.Context, key string, recs []cache.TierRecord, ttl time.Duration, tags []string) error {
	if len(key) > MaxKeyBytes {
		return errKeyTooLong
	}
	h := hashOf(key)
	keys := make([]string, 0, 4+len(tags))
	keys = append(keys, t.entryKey(h), t.lockKey(h), t.base+"ix", t.base+"ex")
	for _, tag := range tags {
		keys = append(keys, t.base+"t:"+hashOf(tag))
	}
	args := make([]any, 0, 5+2*len(recs))
	args = append(args, ttl.Milliseconds(), key+"\x00"+h, h, maxFields, len(recs))
	for _, r := range recs {
		if len(r.Data) > t.c.s.MaxEntryBytes {
			return fmt.Errorf("record of %d bytes over max_entry_bytes %d", len(r.Data), t.c.s.MaxEntryBytes)
		}
		args = append(args, r.Field, r.Data)
	}
	return t.c.call(ctx, func(ctx context.Context) error {
		return putScript.Run(ctx, t.c.rdb, keys, args...).Err()
	})
}

// Purge implements cache.Tier: the script for the kind, then the message
// to the other instances (sent even when Redis held nothing, since their
// memory may).
func (t *Tier) Purge(ctx context.Context, p cache.TierPurge) error {
	keys := []string{t.base + "ix", t.base + "ex"}
	var args []any
	switch p.Kind {
	case cache.PurgeKey:
		if len(p.Arg) > MaxKeyBytes {
			err := t.c.publish(ctx, t.scope, p)
			t.purgeFailed(p, err)
			return err
		}
		h := hashOf(p.Arg)
		keys = append(keys, t.entryKey(h))
		args = []any{"key", p.Arg + "\x00" + h}
	case cache.PurgePrefix:
		args = []any{"prefix", p.Arg}
	case cache.PurgeTags:
		for _, tag := range p.Tags {
			keys = append(keys, t.base+"t:"+hashOf(tag))
		}
		args = []any{"tags", ""}
	case cache.PurgeAll:
		args = []any{"all", ""}
	default:
		return fmt.Errorf("unknown purge kind %d", p.Kind)
	}
	args = append(args, t.base)
	err := t.c.call(ctx, func(ctx context.Context) error {
		return purgeScript.Run(ctx, t.c.rdb, keys, args...).Err()
	})
	if perr := t.c.publish(ctx, t.scope, p); err == nil {
		err = perr
	}
	t.purgeFailed(p, err)
	return err
}

// Subscribe implements cache.Tier.
func (t *Tier) Subscribe(apply func(cache.TierPurge)) {
	t.mu.Lock()
	t.apply = apply
	t.mu.Unlock()
}

func (t *Tier) applier() func(cache.TierPurge) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.apply
}

// Bounds implements cache.Tier.
func (t *Tier) Bounds() (int, time.Duration) { return t.c.s.MaxEntryBytes, t.c.s.LockTimeout }

// Close stops delivering other instances' purges to this Tier.
func (t *Tier) Close() error {
	t.c.forget(t)
	return nil
}

// Down reports whether the Tier's Redis is considered unreachable.
func (t *Tier) Down() bool { return t.c.Down() }

// Transitions reports how often the Tier's Redis went down or came back.
func (t *Tier) Transitions() uint64 { return t.c.Transitions() }

// putScript stores a URL's records. KEYS: the URL's hash, its lock, the
// lexical index, the expiry index, then one set per tag. ARGV: ttl in ms,
// the index member, the URL's hash digits, the field limit, the record
// count, then field and record pairs.
var putScript = redis.NewScript(`
local ttl = tonumber(ARGV[1])
local member, h = ARGV[2], ARGV[3]
local maxf, n = tonumber(ARGV[4]), tonumber(ARGV[5])
if redis.call('HLEN', KEYS[1]) + n > maxf then redis.call('DEL', KEYS[1]) end
for i = 0, n - 1 do redis.call('HSET', KEYS[1], ARGV[6 + 2 * i], ARGV[7 + 2 * i]) end
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('DEL', KEYS[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[3], 0, member)
redis.call('ZADD', KEYS[4], 'GT', now + ttl, member)
local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 16)
for _, m in ipairs(old) do
  redis.call('ZREM', KEYS[3], m)
  redis.call('ZREM', KEYS[4], m)
end
for i = 5, #KEYS do
  redis.call('SADD', KEYS[i], h)
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
`)

// purgeScript removes what a purge names. KEYS: the lexical index, the
// expiry index, then the URL's hash (key) or the tags' sets (tags). ARGV:
// the kind, its argument (the index member for key, the prefix for
// prefix), the Tier's key base. It returns how many URLs went.
var purgeScript = redis.NewScript(`
local kind, arg, base = ARGV[1], ARGV[2], ARGV[3]
local n = 0
local function drop(m)
  n = n + redis.call('DEL', base .. 'e:' .. string.sub(m, -32))
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZREM', KEYS[2], m)
end
if kind == 'key' then
  n = redis.call('DEL', KEYS[3])
  redis.call('ZREM', KEYS[1], arg)
  redis.call('ZREM', KEYS[2], arg)
elseif kind == 'prefix' then
  while true do
    local ms = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. arg, '+', 'LIMIT', 0, 256)
    if #ms == 0 then break end
    for _, m in ipairs(ms) do
      if string.sub(m, 1, #arg) ~= arg then return n end
      drop(m)
    end
  end
elseif kind == 'all' then
  while true do
    local ms = redis.call('ZRANGE', KEYS[1], 0, 255)
    if #ms == 0 then break end
    for _, m in ipairs(ms) do drop(m) end
  end
elseif kind == 'tags' then
  for i = 3, #KEYS do
    for _, h in ipairs(redis.call('SMEMBERS', KEYS[i])) do
      n = n + redis.call('DEL', base .. 'e:' .. h)
    end
    redis.call('DEL', KEYS[i])
  end
end
return n
`)

// Interface guards
var _ cache.Tier = (*Tier)(nil)
