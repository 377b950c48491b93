// Package ratelimit limits request rates with one token bucket per key (a
// client address, a header value, any string the caller derives), kept in a
// bounded, sharded store.
//
// # Token buckets
//
// Each bucket holds at most Settings.Burst tokens and gains
// Settings.RequestsPerSecond tokens a second; a request takes one token or is
// refused. A bucket seen for the first time is full. The arithmetic is that of
// golang.org/x/time/rate (Limiter.AllowN(t, 1)): the same float64 refill, the
// same cap at Burst, the same rule that a refused request leaves the bucket
// untouched and that a clock going backwards refills nothing. The tests check
// every decision against rate.Limiter over random request sequences. Buckets
// are plain structs under their shard's mutex rather than rate.Limiter values:
// that saves a second lock, a pointer and about 90 bytes per key.
//
// Time is always an argument (Limiter.Allow takes now), so tests run over
// fixed instants and never sleep.
//
// # The key store and what eviction means
//
// Keys live in up to 64 shards chosen by a seeded hash of the key; each shard
// is a map plus an LRU list threaded through a slice by index, under one
// mutex. A request for a key already stored takes that shard's lock, moves the
// key to the front and allocates nothing. The shards' capacities add up to
// exactly Settings.MaxKeys, so Keys() <= MaxKeys always holds.
//
// Memory is bounded in bytes as well as in keys. A key longer than
// MaxKeyBytes (64) is stored as a 128-bit digest, two maphash sums under
// seeds drawn at random by New (KeyHasher), so a client sending 20 KB API
// keys costs the store what one sending IP addresses does: at most about 141
// bytes a key, 13.4 MiB at the default 100,000 keys (see DefaultMaxKeys).
// Digesting changes no decision, except that two keys with one digest
// share a bucket: harmless (two clients share one burst), and not to be
// aimed at without the seeds. Looking up a long key hashes it twice and
// allocates nothing.
//
// When a new key arrives and its shard is full, the shard looks at its
// least-recently-used keys (at most 8, from the tail) and evicts the first
// whose bucket is full at that instant. A full bucket is exactly what a fresh
// key gets, so such an eviction changes no future decision: if the evicted key
// returns it is refused or admitted precisely as if it had never left.
//
// If none of those buckets is full, no key is evicted and the new key is not
// stored: its request is charged to one shared overflow bucket (same rate,
// same burst) for the whole Limiter. A flood of new keys therefore shares a
// single bucket instead of receiving a fresh burst each.
//
// The bound that holds: for any key and any interval of length T, the
// requests admitted for that key are at most (Burst + RequestsPerSecond·T)
// from its own bucket, plus those admitted by the overflow bucket, which
// across all keys together are at most (Burst + RequestsPerSecond·T). Keeping
// the store full of non-full buckets, so that newcomers are pushed to the
// overflow bucket, costs an attacker about MaxKeys·RequestsPerSecond admitted
// requests a second, since a bucket that is not drained refills to full within
// Burst/RequestsPerSecond seconds and becomes evictable. Evictions() and
// Overflowed() count both outcomes for metrics.
//
// In Global mode the key is ignored and one bucket serves every request; the
// store is not used.
//
// # Client keys
//
// AppendClientKey and ClientKey turn a client address into a key: an IPv4
// address is its own key; an IPv4-mapped IPv6 address is unmapped, so that
// ::ffff:192.0.2.1 and 192.0.2.1 share a bucket; any other IPv6 address is
// keyed by its network, a /64 by default (DefaultIPv6Prefix), since one host
// may pick any address of its /64 and would otherwise get 2^64 bursts.
//
// # Headers
//
// The header helpers follow draft-ietf-httpapi-ratelimit-headers-11 (May
// 2026), the latest revision: RateLimit-Policy is a Structured Fields list of
// quota policies, `"default";q=<quota>;w=<window seconds>`, and RateLimit is a
// list of service limits, `"default";r=<remaining>;t=<seconds>`. Earlier
// revisions (up to -06) used separate RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset fields, which this package does not emit.
package ratelimit
