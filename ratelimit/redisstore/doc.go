// Package redisstore enforces one rate limit across several proxy instances
// by keeping the token buckets in Redis, with the same meaning of
// requests_per_second, burst and key as the local ratelimit.Limiter, and
// the same result type (ratelimit.Decision) so a handler treats both alike.
//
// # The shared bucket
//
// Each key's bucket is one Redis string under KeyPrefix+"k:"+key
// (KeyPrefix+"g" in Global mode, where the key is ignored), updated by one Lua
// script run with EVALSHA (EVAL when the server has not cached it). The
// script reads the server's TIME, so instances whose clocks disagree still
// share one bucket, and stores the bucket as the instant, in microseconds,
// at which it is full again (GCRA's theoretical arrival time): that is the
// token bucket of package ratelimit, full when first seen, refilled at
// RequestsPerSecond, capped at Burst, untouched by a request it refuses. A
// call asks for n tokens and is granted min(n, whole tokens available). The
// key's expiry (PX) is the instant the bucket is full again, so an idle
// bucket vanishes from Redis exactly when deleting it changes nothing.
//
// # Leases
//
// A Redis round trip per request would put a network hop on the hot path
// (about 40 µs a script call even on loopback, against under 100 ns for a
// decision served locally), so an instance takes tokens in small batches. A request whose key has no lease calls the script asking for L
// tokens; it spends one and the rest form the key's lease, which requests
// spend locally (a map lookup under a shard lock, no allocation) until it
// is empty or D has passed since the call was sent; tokens left then are
// dropped, not returned. Concurrent requests that find the lease empty wait
// for the one call in flight for their key instead of calling Redis too.
// When a reply says the bucket holds no whole token, requests are refused
// locally until the instant the reply gives for the next one (at most 1 s
// ahead), so a flood of refused requests does not become a flood of Redis
// calls either.
//
// L and D follow from the settings (Settings.Lease):
//
//	L = max(1, min(cap, Burst/2, floor(RequestsPerSecond × 100 ms)))
//	D = min(100 ms, L / RequestsPerSecond)
//
// Burst/2 keeps one instance from taking the whole burst; the rate term
// keeps a lease within about 100 ms of traffic; cap is LeaseSize when set,
// and by default the larger of 10 and 10 ms of rate (MinLeaseAge), so that
// above 1,000 requests/s a lease is not cut short by its own lifetime
// (L/RequestsPerSecond) long before its tokens are spent: such a lease
// holds 10 ms of tokens, 1 % of the rate's one-second window. LeaseSize 1 disables leases: every admitted request is one
// script call, and the limit is exactly that of one shared bucket.
//
// # The over-admission bound
//
// Every admitted request spends a token the script granted, so over any
// run that starts from untouched (full) buckets the instances together
// admit at most Burst + RequestsPerSecond × T requests in T seconds, exactly
// as one bucket would. Leases only shift tokens in time. Count a request at
// the instant Allow decides it: a token granted at server instant g is
// spent at g or later (the request that made the call is decided when the
// reply arrives) and before g + D (the lease ends D after the call was
// sent, which is before g). For an arbitrary window [a, a+T]:
//
//	admitted ≤ leased-but-unspent at a + granted in [a, a+T]
//	         ≤ (granted in (a−D, a]) + B(a) + RequestsPerSecond × T
//	         ≤ Burst + RequestsPerSecond × D + RequestsPerSecond × T
//
// where B(a) is the bucket's level at a, and the last step holds because a
// token bucket's level plus what was taken from it over any span of length
// D is at most Burst plus what it refilled in that span. With N instances
// the unspent tokens are also at most N × (L−1), one lease per key each. As
// RequestsPerSecond × D ≤ L by the choice of D:
//
//	admitted in any window of T seconds ≤ Burst + RequestsPerSecond × T + L
//
// whatever the number of instances (Settings.OverAdmission; 0 when L = 1).
// For the seed's 100 requests/s, burst 10: L = 5, D = 50 ms, so at most
// 115 requests in any second against 110 for one exact bucket (+4.5%), and
// 515 against 510 in any 5 s. For 30/s, burst 30: L = 3, D = 100 ms, at
// most 183 in any 5 s against 180 (+1.7%), and never more than 180 in the
// first 5 s from a full bucket. Three instances with local limiters would
// admit up to 3 × 180 = 540.
//
// Leases cost fairness, not safety: tokens leased to an instance that then
// gets no traffic are lost for up to D, so the instances may together
// admit slightly fewer than one bucket would. Remaining and Reset in a
// decision served from a lease are those of the last reply, less the
// tokens this instance has spent since: other instances' spending shows up
// at the next call.
//
// # When Redis is down or slow
//
// Every call carries a deadline of ReadTimeout from the arrival of the
// request that waits for it, covering the connection pool, the dial, the
// write and the read; go-redis retries are off. The first failed call makes
// the Store degraded: requests then skip Redis and go straight to the
// FailurePolicy, FailOpen (a local ratelimit.Limiter of the same settings,
// one per instance, so N instances admit up to N times the limit) or
// FailClosed (refuse with ErrUnavailable, for a 503). A single goroutine
// calls Redis every ProbeInterval while degraded (the script, taking one
// token from KeyPrefix+"p", so that a Redis that answers PING but refuses
// the script, a read-only replica say, stays degraded); the first answer makes
// the Store healthy and shared limiting resumes with the buckets as Redis
// holds them (all full after a Redis restart). Each transition is counted
// (Transitions) and reported to Settings.OnStateChange, so the caller can
// log it and export a metric. Close stops the goroutine and closes every
// connection.
//
// # Keys
//
// A key of up to ratelimit.MaxKeyBytes (64) bytes is used byte for byte
// (Redis keys are binary-safe). A longer one is held in the lease table as
// its 128-bit seeded digest (ratelimit.KeyHasher) and named in Redis by its
// SHA-256, KeyPrefix+"h:"+64 hex digits, which every instance computes
// alike: whatever clients send, no Redis key is longer than KeyPrefix plus
// 66 bytes, and a local entry costs about 200 bytes.
//
// # Trusting Redis
//
// Redis decides requests, so whoever controls it, or the network path to
// it, can admit or refuse any request: use TLS (Settings.TLS) and
// authentication (Username, Password) to a Redis no one else can write
// to. What a hostile or broken server cannot do:
//
//   - Exhaust memory. go-redis allocates what a reply header announces
//     before the payload arrives, so every connection is read through a
//     guard that checks the RESP stream first and fails the connection on
//     an aggregate of more than 64 elements, a reply of more than 1,024
//     elements, 64 KiB or 8 levels of nesting, a line of more than 4 KiB,
//     or anything that is not RESP (guard.go). Connection buffers are 4 KiB.
//   - Stall requests. Every call carries a deadline of ReadTimeout, which
//     go-redis applies to the pool wait (PoolTimeout is ReadTimeout too),
//     the dial, the write and each read; a server that never answers, or
//     trickles a byte at a time, costs a request ReadTimeout and then the
//     FailurePolicy.
//   - Grant more than was asked. A reply that is not four non-negative
//     integers is an error, counted like an unreachable Redis (the Store
//     degrades and the FailurePolicy applies); numbers beyond what the
//     script can return are clamped: granted to the tokens asked for, the
//     tokens left to Burst, waits to the time a token and the whole burst
//     take to refill.
package redisstore
