// Package redistier is a cache.Tier in Redis: the shared cache tier of a
// fleet of proxy instances. A Client is one connection pool to one Redis
// (a server, a Sentinel-managed master, or a Cluster: go-redis's
// UniversalClient), shared by the Tiers of every route that names the same
// Redis; a Tier is one route's view of it, under keys of its own.
//
// # Keys
//
// Every key of a Tier starts with KeyPrefix and the route's scope as a hash
// tag, "{" + 16 hex digits of SHA-256(scope) + "}", so a route's keys live in
// one Cluster slot (its scripts touch several of them) and two routes, or
// two sites, never read each other's entries even in one Redis:
//
//	<prefix>{<scope>}:e:<h>   hash of one URL: field "" is the primary
//	                          record, other fields its Vary variants
//	<prefix>{<scope>}:l:<h>   the URL's fill lock (an instance id) or "pass"
//	<prefix>{<scope>}:ix      sorted set (all scores 0) of "<key>\x00<h>",
//	                          for purges by prefix (ZRANGEBYLEX)
//	<prefix>{<scope>}:ex      the same members scored by expiry, so the
//	                          index does not outgrow the entries
//	<prefix>{<scope>}:t:<g>   set of the <h> of the URLs tagged g
//
// h is 32 hex digits of SHA-256 of the cache key, g of the tag, so no
// client can make a Redis key longer than the prefix and about 60 bytes.
// Cache keys longer than MaxKeyBytes are not shared at all (their URLs
// stay in each instance's memory). The hash is an index only: a record
// names its key, and the cache refuses a record for another key.
//
// # Costs
//
// A lookup is one HGET (two for a URL that varies); a store is one script
// call that writes the record, extends the hash's expiry, releases the
// lock, indexes the key (and its tags) and drops up to 16 index members
// that expired, so the indexes stay within the live entries plus a little.
// A purge by key is one script call; by prefix, O(log N + M) for M
// matching URLs; by tag, the tag's members; all, every indexed URL. Each
// purge is then published on KeyPrefix+"purge" for the other instances,
// which apply it to their memory. A waiter for another instance's fill
// polls with one pipelined HGET + GET, 5 ms apart at first, then 10, 20,
// up to 50 ms, for at most LockTimeout.
//
// # When Redis is down or slow
//
// Every call carries a deadline of Timeout (pool wait, dial, write and
// read); go-redis retries are off. The first failed call marks the
// Client down: calls then fail at once without touching the network, so
// requests see only their memory cache and the backends, and a goroutine
// PINGs Redis every ProbeInterval until it answers. Each transition is
// counted and reported to OnStateChange. A purge made while Redis is
// down applies to this instance's memory at once and is kept (at most 64;
// then one purge of everything per route) and replayed two probe
// intervals after Redis is back, when the other instances' subscriptions,
// which re-subscribe on their own, should be listening again (replay.go).
//
// # Trusting Redis
//
// Whoever can write to the Redis can make every instance serve any
// response for any URL of the scopes it holds: use TLS and ACLs. What a
// hostile or broken Redis cannot do: make an instance allocate without
// bound (every connection is read through the rate limiter's RESP guard,
// here with a reply budget of MaxEntryBytes plus framing), stall a request
// past Timeout, or move a record to another URL, variant or scope (the
// cache checks each record's key and variant, and the format's version,
// bounds and field syntax; anything else is a miss). A purge message is
// at most 64 KiB of JSON naming a known scope and kind, or ignored.
package redistier
