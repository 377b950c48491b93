package redisstore

import (
	"math"
	"strings"
	"sync"
	"time"

	"github.com/caddy-smartproxy/smartproxy/ratelimit"
)

// maxShards is the most shards the lease table is split into, as in package
// ratelimit: enough that two requests rarely want the same lock.
const maxShards = 64

// minSweep is the smallest shard size at which a new key triggers a sweep
// of dead entries.
const minSweep = 64

// sweepPause is the least time between two sweeps of one shard, so that a
// shard full of live entries is not rescanned for every new key.
const sweepPause = int64(10 * time.Millisecond)

// maxRefusal caps how long an entry refuses locally on the word of one
// Redis reply. The reply's time is exact unless the bucket key vanishes (a
// Redis restart or FLUSHDB, which fill every bucket), so the cap only limits
// how long such a refill goes unnoticed.
const maxRefusal = int64(time.Second)

// never is an instant before any other on the Store's clock, which a Now
// seam running behind may make negative.
const never = math.MinInt64

// call is one Redis call in flight for a key, which concurrent requests for
// that key wait for instead of calling Redis themselves.
type call struct {
	done chan struct{}
	// err is the call's error, written before done is closed.
	err error
	// waiters counts the requests that joined the call, under the shard
	// lock; tests read it to know everyone is waiting.
	waiters int
}

// entry is one key's local state: the lease and what the last Redis reply
// said about the shared bucket. Times are nanoseconds on the Store's clock.
type entry struct {
	rkey string
	// tokens are leased tokens not yet spent, usable until expires.
	tokens  int
	expires int64
	// left is the whole tokens the shared bucket held after the last grant.
	left int
	// resetAt is when the shared bucket is full again, as last reported.
	resetAt int64
	// retryAt is when the shared bucket holds a whole token again, when the
	// last reply said it held none; refuseUntil is retryAt capped by
	// maxRefusal, the end of local refusals.
	retryAt     int64
	refuseUntil int64
	// flight is the call in progress for this key, if any.
	flight *call
}

// allowed spends one leased token at t.
func (e *entry) allowed(t int64) ratelimit.Decision {
	e.tokens--
	return ratelimit.Decision{
		Allowed:   true,
		Remaining: e.tokens + e.left,
		Reset:     since(e.resetAt, t),
	}
}

// refused is the decision for a request at t that finds no token.
func (e *entry) refused(t int64) ratelimit.Decision {
	return ratelimit.Decision{
		RetryAfter: max(since(e.retryAt, t), 1),
		Reset:      since(e.resetAt, t),
	}
}

// apply records a reply to a call sent at sent, asking for some tokens on
// behalf of one request, and decides that request at t. A granted token
// goes to that request, the rest into the lease, which ends lifetime after
// sent: sent is never after the server's instant, so the lease never
// outlives the bound the package doc derives.
func (e *entry) apply(g grant, sent, t int64, lifetime time.Duration) ratelimit.Decision {
	e.left = g.left
	e.resetAt = sent + int64(g.full)
	e.retryAt, e.refuseUntil = never, never
	if g.left == 0 {
		e.retryAt = sent + int64(g.next)
		e.refuseUntil = min(e.retryAt, sent+maxRefusal)
	}
	if g.granted == 0 {
		e.tokens = 0
		return e.refused(t)
	}
	e.tokens = g.granted
	e.expires = sent + int64(lifetime)
	return e.allowed(t)
}

// dead reports whether e holds nothing worth keeping at t.
func (e *entry) dead(t int64) bool {
	return e.flight == nil && (e.tokens == 0 || t >= e.expires) && t >= e.refuseUntil
}

// since returns at - t as a Duration, or 0 when at is not after t.
func since(at, t int64) time.Duration {
	if at <= t {
		return 0
	}
	return time.Duration(at - t)
}

// shard is one lock's worth of the lease table.
type shard struct {
	mu        sync.Mutex
	index     map[string]*entry
	capacity  int
	sweepAt   int
	nextSweep int64
	// Keep neighbouring shards' locks on separate cache lines.
	_ [64]byte
}

// init prepares an empty shard holding at most capacity keys.
func (sh *shard) init(capacity int) {
	sh.index = make(map[string]*entry)
	sh.capacity = capacity
	sh.sweepAt = min(minSweep, capacity)
}

// add stores a new entry for key, whose bucket is at rkey in Redis, and
// returns it; nil when the shard is full of live entries. Dead entries are
// swept when the shard has doubled since the last sweep (amortised O(1) per
// key) and at most once per sweepPause. The caller holds sh.mu.
func (sh *shard) add(key, rkey string, t int64) *entry {
	if len(sh.index) >= sh.sweepAt && t >= sh.nextSweep {
		for k, e := range sh.index {
			if e.dead(t) {
				delete(sh.index, k)
			}
		}
		sh.sweepAt = min(sh.capacity, max(minSweep, 2*len(sh.index)))
		sh.nextSweep = t + sweepPause
	}
	if len(sh.index) >= sh.capacity {
		return nil
	}
	e := &entry{rkey: rkey, expires: never, retryAt: never, refuseUntil: never, resetAt: never}
	sh.index[strings.Clone(key)] = e
	return e
}

// len reports the number of entries. The caller holds sh.mu.
func (sh *shard) len() int { return len(sh.index) }
