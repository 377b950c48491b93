package cache

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// correctedInitialAge is RFC 9111 §4.2.3's corrected_initial_age: the age a
// response already had when it arrived, from the larger of its apparent age
// (response_time - Date) and the upstream Age header corrected by the
// request's round trip (response_delay).
func correctedInitialAge(date time.Time, ageValue time.Duration, requestTime, responseTime time.Time) time.Duration {
	apparent := max(responseTime.Sub(date), 0)
	if date.IsZero() {
		apparent = 0
	}
	delay := max(responseTime.Sub(requestTime), 0)
	return max(apparent, ageValue+delay)
}

// parseAge reads an Age header value (delta-seconds); a missing or bad one
// counts as 0. A list (several field lines, or commas) counts by its first
// member, as RFC 9111 §5.1 says a cache should.
func parseAge(h http.Header) time.Duration {
	v := h["Age"]
	if len(v) == 0 {
		return 0
	}
	first, _, _ := strings.Cut(v[0], ",")
	n, ok := parseSeconds(trimOWS(first))
	if !ok {
		return 0
	}
	return time.Duration(n) * time.Second
}

// parseDate reads an HTTP-date header; the zero time when missing or bad.
func parseDate(h http.Header, name string) time.Time {
	v := h[name]
	if len(v) == 0 {
		return time.Time{}
	}
	// http.ParseTime (time.Parse) also accepts runs of spaces and one-digit
	// hours, which IMF-fixdate (RFC 9110 §5.6.7) does not: a value shaped
	// like one ("Sun, ...", comma after the day name) must be exactly as
	// long as one, or it is invalid (an invalid Expires means expired).
	if strings.IndexByte(v[0], ',') == 3 && len(v[0]) != len(http.TimeFormat) {
		return time.Time{}
	}
	t, err := http.ParseTime(v[0])
	if err != nil {
		return time.Time{}
	}
	return t
}

// freshness is what RFC 9111 §4.2.1 computes for a response: its freshness
// lifetime and whether that came from the origin (explicit) or from the
// TTL heuristic.
type freshness struct {
	lifetime  time.Duration
	explicit  bool
	heuristic bool // from the heuristic (Last-Modified or TTL), not the origin
}

// freshnessLifetime computes the lifetime of a response with status code,
// header h and directives d, for a shared cache: s-maxage, then max-age,
// then Expires - Date, then the heuristic TTL for heuristically cacheable
// statuses (or public responses). MaxTTL caps the result. date is the
// response's Date, or its receipt time when it has none.
func (c *Cache) freshnessLifetime(code int, h http.Header, d responseDirectives, date time.Time) freshness {
	var f freshness
	switch {
	case d.sMaxAge != absent:
		f = freshness{lifetime: time.Duration(d.sMaxAge) * time.Second, explicit: true}
	case d.maxAge != absent:
		f = freshness{lifetime: time.Duration(d.maxAge) * time.Second, explicit: true}
	case len(h["Expires"]) > 0 && !d.targeted:
		// An invalid Expires (such as "0") means already expired.
		f.explicit = true
		if exp := parseDate(h, "Expires"); !exp.IsZero() {
			f.lifetime = max(exp.Sub(date), 0)
		}
	default:
		if lifetime, ok := c.lastModifiedLifetime(code, h, d, date); ok {
			f = freshness{lifetime: lifetime, heuristic: true}
		} else if c.s.TTL > 0 && (d.public || slices.Contains(c.s.CacheableStatuses, code)) {
			f = freshness{lifetime: c.s.TTL, heuristic: true}
		}
	}
	if c.s.MaxTTL > 0 && f.lifetime > c.s.MaxTTL {
		f.lifetime = c.s.MaxTTL
	}
	return f
}

// Reasons a response is not stored; they appear as the Cache-Status
// detail parameter of the forwarded response.
const (
	reasonStatus        = "status"
	reasonNoStore       = "no-store"
	reasonPrivate       = "private"
	reasonAuthorization = "authorization"
	reasonCookie        = "cookie"
	reasonSetCookie     = "set-cookie"
	reasonVaryStar      = "vary-star"
	reasonNotFresh      = "not-fresh"
	reasonTrailers      = "trailers"
	reasonInvalidCC     = "invalid-cache-control"
	reasonTooLarge      = "too-large"
)

// storable applies RFC 9111 §3 (and this cache's policy) to a response of
// status code with header h and directives d, answering request req. It
// returns "" when the response may be stored, else the reason it may not.
func (c *Cache) storable(req *http.Request, code int, h http.Header, d responseDirectives, f freshness) string {
	switch {
	case code < 200 || code == http.StatusPartialContent || code == http.StatusNotModified:
		return reasonStatus
	case d.invalid:
		return reasonInvalidCC
	case d.noStore:
		return reasonNoStore
	case d.private:
		return reasonPrivate
	case len(req.Header["Authorization"]) > 0 && !d.public && d.sMaxAge == absent && !d.mustRevalidate:
		return reasonAuthorization
	case len(req.Header["Cookie"]) > 0 && !d.public && d.sMaxAge == absent:
		// Not RFC 9111's rule but the same reasoning as its rule for
		// Authorization (§3.5): a response to a request with cookies is
		// likely made for that user, and a backend that forgets Vary or
		// private would have it served to everyone. Stored only when the
		// backend says it is for sharing.
		return reasonCookie
	case len(h["Set-Cookie"]) > 0 && !c.s.AllowSetCookie:
		return reasonSetCookie
	case varyStar(h):
		return reasonVaryStar
	case len(h["Trailer"]) > 0:
		return reasonTrailers
	}
	if !f.explicit && !slices.Contains(c.s.CacheableStatuses, code) && !d.public {
		return reasonStatus
	}
	// A no-cache response is always revalidated, so it is worth keeping
	// only with a validator; so is an explicitly stale one (max-age=0).
	if d.noCache || f.lifetime <= 0 {
		if (d.noCache || f.explicit) && hasValidator(h) {
			return ""
		}
		return reasonNotFresh
	}
	return ""
}

func hasValidator(h http.Header) bool {
	return len(h["Etag"]) > 0 || len(h["Last-Modified"]) > 0
}
