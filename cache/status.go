package cache

import "sync/atomic"

// Status says how Serve handled one request. It is small and
// allocation-free to pass around, for a placeholder such as
// {http.smartproxy.cache_status}.
type Status uint8

const (
	// StatusNone: Serve returned an error before any response (fetch
	// failed with no stale fallback, or the client went away while waiting).
	StatusNone Status = iota
	// StatusBypass: the request was not a cache candidate (method other
	// than GET/HEAD, or a Range request) and went straight to fetch.
	StatusBypass
	// StatusHit: served from memory, backend not touched.
	StatusHit
	// StatusMiss: nothing usable was stored; forwarded (and stored if the
	// response allowed it).
	StatusMiss
	// StatusExpired: a stale response was stored; forwarded, and the
	// backend sent a full response.
	StatusExpired
	// StatusRevalidated: a stale response was revalidated with a 304 and
	// served with refreshed headers.
	StatusRevalidated
	// StatusStale: fetch failed (error or 5xx) and a stale response was
	// served within StaleIfError.
	StatusStale
	// StatusCoalesced: served the response another in-flight request for
	// the same key fetched.
	StatusCoalesced
	// StatusRequest: the request's Cache-Control (no-cache, max-age,
	// min-fresh) refused the stored response; forwarded.
	StatusRequest
	// StatusOnlyIfCached: only-if-cached and nothing usable stored; 504.
	StatusOnlyIfCached
	// StatusStaleWhileRevalidate: served stale within its
	// stale-while-revalidate window while a background request
	// revalidates it.
	StatusStaleWhileRevalidate
	// StatusSharedHit: served from the shared tier (Settings.Tier) and
	// stored in memory; backend not touched.
	StatusSharedHit
)

var statusNames = [...]string{
	StatusNone:                 "none",
	StatusBypass:               "bypass",
	StatusHit:                  "hit",
	StatusMiss:                 "miss",
	StatusExpired:              "expired",
	StatusRevalidated:          "revalidated",
	StatusStale:                "stale",
	StatusCoalesced:            "coalesced",
	StatusRequest:              "request",
	StatusOnlyIfCached:         "only-if-cached",
	StatusStaleWhileRevalidate: "stale-while-revalidate",
	StatusSharedHit:            "shared-hit",
}

// String returns the lower-case name of s, e.g. "hit".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// counters are the cache's hot counters. Must not be copied.
type counters struct {
	hits, misses, stale, coalesced, revalidated atomic.Uint64
	stores, evictions, invalidations            atomic.Uint64
	sharedHits, sharedStores, sharedBad         atomic.Uint64
}

// Stats is a snapshot of the cache's counters, for metrics and status
// pages. Counters only grow; Entries and Bytes are current sizes.
type Stats struct {
	Hits          uint64 // served from memory (fresh, or stale allowed by max-stale)
	Misses        uint64 // forwarded to fetch (any reason but bypass)
	StaleServed   uint64 // stale served because fetch failed, or while revalidating (stale-while-revalidate)
	Coalesced     uint64 // requests that waited on another's fetch
	Revalidated   uint64 // stale responses refreshed by a 304
	Stores        uint64 // responses stored
	Evictions     uint64 // responses evicted to stay within MaxSize/MaxBytes
	Invalidations uint64 // responses removed by unsafe requests
	SharedHits    uint64 // served from the shared tier (Settings.Tier)
	SharedStores  uint64 // responses written to the shared tier
	SharedBad     uint64 // records from the shared tier refused as corrupt or foreign
	Entries       int    // responses stored now
	Bytes         int64  // bytes accounted now
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	entries, bytes := c.store.size()
	return Stats{
		Hits:          c.stats.hits.Load(),
		Misses:        c.stats.misses.Load(),
		StaleServed:   c.stats.stale.Load(),
		Coalesced:     c.stats.coalesced.Load(),
		Revalidated:   c.stats.revalidated.Load(),
		Stores:        c.stats.stores.Load(),
		Evictions:     c.stats.evictions.Load(),
		Invalidations: c.stats.invalidations.Load(),
		SharedHits:    c.stats.sharedHits.Load(),
		SharedStores:  c.stats.sharedStores.Load(),
		SharedBad:     c.stats.sharedBad.Load(),
		Entries:       entries,
		Bytes:         bytes,
	}
}
