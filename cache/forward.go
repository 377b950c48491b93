package cache

import (
	"net/http"
	"time"
)

// forward sends a GET or HEAD that the store could not answer to fetch,
// through a recorder. stale is the stored response the request selected,
// if any (it may be fresh but refused by the request's directives); known
// says whether any variant of key was stored.
func (c *Cache) forward(w http.ResponseWriter, r *http.Request, fetch Fetcher, key []byte,
	stale *entry, known bool, rq requestDirectives, now time.Time) (Status, error) {
	fwd, status := "uri-miss", StatusMiss
	switch {
	case stale != nil && refusedByRequest(stale, stale.currentAge(now), rq):
		fwd, status = "request", StatusRequest
	case stale != nil:
		fwd, status = "stale", StatusExpired
	case known:
		fwd = "vary-miss"
	}
	storeAllowed := r.Method == http.MethodGet && !rq.noStore
	clientConditional := len(r.Header["If-None-Match"]) > 0 || len(r.Header["If-Modified-Since"]) > 0

	var fl *flight
	if storeAllowed && !rq.noCache && !clientConditional {
		var leader, served bool
		var err error
		fl, leader, served, err = c.coalesce(w, r, key)
		switch {
		case err != nil:
			return StatusNone, err
		case served:
			return StatusCoalesced, nil
		case !leader:
			fl = nil
		}
	}
	var tierLocked bool
	// The tier answers what memory would have (a HEAD shares its GET's
	// entry); only a GET that may be stored leads a flight and so takes
	// the fill lock.
	if c.s.Tier != nil && (storeAllowed || r.Method == http.MethodHead && !rq.noStore) && !rq.noCache {
		var served bool
		if served, tierLocked = c.fromTier(w, r, key, fl, rq); served {
			return StatusSharedHit, nil
		}
	}
	c.stats.misses.Add(1)

	rec := &recorder{
		c: c, w: w, r: r, key: string(key), stale: stale, fwd: fwd,
		storeAllowed: storeAllowed, requestTime: now, fl: fl, tierLocked: tierLocked,
	}
	// Deferred so that waiters are released and a relay stopped even if
	// fetch panics (as a proxy does to abort a response cut short).
	defer rec.abandon()
	req := r
	if stale != nil && stale.hasValidator() && storeAllowed && !clientConditional {
		req = r.Clone(r.Context())
		if stale.etag != "" {
			req.Header.Set("If-None-Match", stale.etag)
		}
		if stale.lmRaw != "" {
			req.Header.Set("If-Modified-Since", stale.lmRaw)
		}
		rec.revalidating = true
	}
	return rec.finish(fetch.Fetch(rec, req), status)
}
