package cache

import (
	"net/http"
	"time"
)

// Freshening with HEAD (RFC 9111 §4.3.5). A HEAD forwarded while a GET
// response is stored for its variant (stale, or refused by the request's
// directives) may update that stored response: when the HEAD's 200 has
// the same validators as the stored one — the same ETag, or, with no
// ETag on either, the same Last-Modified — and no Content-Length that
// contradicts the stored body, its header fields replace the stored ones
// (Content-Length excepted, as for a 304) and its freshness becomes the
// stored response's, if the result may be stored at all. Otherwise the
// stored response is left alone: the next GET revalidates it.

// headMatches reports whether a HEAD response with header h describes
// the stored response e.
func headMatches(e *entry, h http.Header) bool {
	var etag, lm string
	if v := h["Etag"]; len(v) > 0 {
		etag = v[0]
	}
	if v := h["Last-Modified"]; len(v) > 0 {
		lm = v[0]
	}
	switch {
	case etag != "" || e.etag != "":
		if etag != e.etag {
			return false
		}
	case lm == "" || lm != e.lmRaw:
		return false
	}
	if v := h["Content-Length"]; len(v) > 0 && v[0] != contentLength(e) {
		return false
	}
	return true
}

func contentLength(e *entry) string {
	for _, f := range e.fields {
		if f.name == "Content-Length" && len(f.values) > 0 {
			return f.values[0]
		}
	}
	return ""
}

// refreshFromHead stores e refreshed with the header of a matching 200
// answering a HEAD, when the result is storable. It returns whether it
// stored.
func (c *Cache) refreshFromHead(r *http.Request, e *entry, h http.Header, requestTime, responseTime time.Time) bool {
	if !headMatches(e, h) {
		return false
	}
	ne, merged := c.refreshed(e, h, requestTime, responseTime)
	d := c.responseDirectives(merged)
	reason := c.storable(r, ne.status, merged, d, c.freshnessLifetime(ne.status, merged, d, ne.responseTime))
	if headerBytes(merged)+int64(len(ne.body)) > c.s.MaxEntryBytes {
		reason = reasonTooLarge
	}
	if reason != "" && reason != reasonNotFresh {
		return false
	}
	c.store.add(ne)
	c.stats.stores.Add(1)
	return true
}
