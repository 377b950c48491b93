package ratelimit

import (
	"encoding/binary"
	"hash/maphash"
	"sync/atomic"
	"time"
)

// maxShards is the most shards a store is split into: enough that, on the
// core counts a proxy runs on, two requests rarely want the same lock.
const maxShards = 64

// minPerShard is the fewest keys a shard should hold. A small MaxKeys gets
// fewer shards rather than shards too small for LRU order to mean anything.
const minPerShard = 16

// Limiter decides, per key, whether a request may proceed. It is safe for
// concurrent use and must not be copied after New.
type Limiter struct {
	settings Settings
	p        params
	policy   string
	// epoch anchors the int64 times stored in buckets. It carries a
	// monotonic reading, so times from time.Now are immune to wall-clock
	// steps.
	epoch time.Time
	now   func() time.Time
	seed  maphash.Seed
	// long digests keys longer than MaxKeyBytes.
	long KeyHasher
	mask uint64
	// shards is empty in Global mode.
	shards []shard
	// overflow is the Global bucket in Global mode, and otherwise the
	// bucket shared by new keys the store has no room for.
	overflow   lockedBucket
	overflowed atomic.Uint64
}

// New validates s and returns a Limiter with every bucket full.
func New(s Settings) (*Limiter, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	l := &Limiter{
		settings: s,
		p:        params{rate: s.RequestsPerSecond, burst: float64(s.Burst)},
		policy:   s.PolicyHeader(),
		epoch:    time.Now(),
		now:      s.Now,
		seed:     maphash.MakeSeed(),
		long:     NewKeyHasher(),
	}
	if l.now == nil {
		l.now = time.Now
	}
	// last = 0 is the epoch; advance treats any earlier instant as "no time
	// passed", so the bucket reads as full at every instant.
	l.overflow.b = l.p.full(0)
	if !s.Global {
		maxKeys := s.maxKeys()
		n := maxShards
		for n > 1 && maxKeys/n < minPerShard {
			n /= 2
		}
		l.shards = make([]shard, n)
		l.mask = uint64(n - 1)
		base, extra := maxKeys/n, maxKeys%n
		for i := range l.shards {
			c := base
			if i < extra {
				c++
			}
			l.shards[i].init(c)
		}
	}
	return l, nil
}

// Allow decides one request for key at now, taking a token if one is there.
// For a key already stored it allocates nothing; a new key allocates its copy
// of the key and, while the store grows, map and slot space. A key longer
// than MaxKeyBytes is stored as its 16-byte digest (see KeyHasher). A new
// key that finds no room (see the package doc) is decided by the shared
// overflow bucket, whose Remaining and Reset the Decision then reports.
func (l *Limiter) Allow(key string, now time.Time) Decision {
	t := int64(now.Sub(l.epoch))
	if l.shards == nil {
		return l.overflow.take(&l.p, t)
	}
	if len(key) <= MaxKeyBytes {
		return allow(l, key, maphash.String(l.seed, key), t)
	}
	d := l.long.Sum(key)
	return allow(l, d[:], binary.LittleEndian.Uint64(d[:]), t)
}

// allow decides one request at t for the stored form of a key, whose hash
// picks the shard.
func allow[K keyBytes](l *Limiter, key K, hash uint64, t int64) Decision {
	s := &l.shards[hash&l.mask]
	s.mu.Lock()
	i, ok := s.index[string(key)]
	if ok {
		s.touch(i)
	} else {
		var o outcome
		if i, o = admit(s, key, &l.p, t); o == refused {
			s.mu.Unlock()
			l.overflowed.Add(1)
			return l.overflow.take(&l.p, t)
		}
	}
	d := l.p.take(&s.slots[i].b, t)
	s.mu.Unlock()
	return d
}

// AllowNow is Allow at the instant given by Settings.Now (time.Now by
// default).
func (l *Limiter) AllowNow(key string) Decision {
	return l.Allow(key, l.now())
}

// PolicyHeader returns the RateLimit-Policy field value, computed once by New
// (see Settings.PolicyHeader).
func (l *Limiter) PolicyHeader() string { return l.policy }

// Settings returns the settings l was made with, so a caller keeping
// Limiters across config reloads can tell whether one still fits.
func (l *Limiter) Settings() Settings { return l.settings }

// Keys reports how many keys the store holds; never more than MaxKeys, and 0
// in Global mode. It takes every shard's lock in turn, so it is meant for
// metrics and tests, not the request path.
func (l *Limiter) Keys() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.len()
		s.mu.Unlock()
	}
	return n
}

// Evictions reports how many full buckets were evicted to make room for new
// keys since New. Like Keys it takes every shard's lock in turn.
func (l *Limiter) Evictions() uint64 {
	var n uint64
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.evictions
		s.mu.Unlock()
	}
	return n
}

// Overflowed reports how many requests from new keys found no evictable
// bucket and were decided by the shared overflow bucket. A count that keeps
// rising means MaxKeys is too small for the traffic, or a flood of keys.
func (l *Limiter) Overflowed() uint64 { return l.overflowed.Load() }
