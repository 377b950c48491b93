package cache

import (
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Heuristic freshness from Last-Modified (RFC 9111 §4.2.2), opt-in: a
// response with no explicit freshness (no s-maxage, max-age or Expires,
// nor a targeted field's), with a status that is heuristically cacheable
// (CacheableStatuses, or marked public) and a valid Last-Modified before
// its Date, is fresh for HeuristicFraction of the time since it was last
// modified, at most HeuristicMax. It takes precedence over TTL, which
// still applies to responses without Last-Modified. Hits on a heuristically
// fresh response say how long it stays fresh: Cache-Status "…; hit;
// ttl=<seconds>" (RFC 9211 §2.4), since no origin vouched for that time.

// DefaultHeuristicMax caps a Last-Modified heuristic lifetime when
// HeuristicMax is zero: a day, the warning threshold of RFC 7234 §4.2.2.
const DefaultHeuristicMax = 24 * time.Hour

// lastModifiedLifetime returns the heuristic lifetime of a response with
// status code, header h and directives d whose Date (or receipt time) is
// date, and whether the heuristic applies.
func (c *Cache) lastModifiedLifetime(code int, h http.Header, d responseDirectives, date time.Time) (time.Duration, bool) {
	if c.s.HeuristicFraction <= 0 || !(d.public || slices.Contains(c.s.CacheableStatuses, code)) {
		return 0, false
	}
	lm := parseDate(h, "Last-Modified")
	if lm.IsZero() || !lm.Before(date) {
		return 0, false
	}
	lifetime := time.Duration(float64(date.Sub(lm)) * c.s.HeuristicFraction)
	return min(lifetime, c.s.HeuristicMax), true
}

// hitStatusFor returns the Cache-Status of a hit on e at age: the
// prebuilt one, or for a heuristically fresh e one that says its ttl.
func (c *Cache) hitStatusFor(e *entry, age time.Duration) []string {
	if !e.heuristic {
		return e.hitStatus
	}
	n := len(e.hitStatus) - 1
	ttl := int64((e.lifetime - age) / time.Second)
	cs := make([]string, n+1)
	copy(cs, e.hitStatus[:n])
	cs[n] = e.hitStatus[n] + "; ttl=" + strconv.FormatInt(ttl, 10)
	return cs
}
