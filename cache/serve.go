package cache

import (
	"net/http"
	"strings"
	"time"
)

// Serve answers r from the cache or through fetch, and reports how.
//
// GET and HEAD requests are looked up (HEAD shares the GET entry); a fresh
// stored response that the request's Cache-Control accepts is written from
// memory with Age and Cache-Status headers, and fetch is not called.
// Otherwise the request is forwarded — conditionally when a stale stored
// response has a validator — while concurrent misses for the same key wait
// for one fetch when its response can answer them (see the package doc's
// Coalescing and CoalesceTimeout). The forwarded response streams to w
// and is teed into a buffer of at most MaxEntryBytes for storage; for a
// coalesced fetch it reaches w through a relay, so that a slow w holds up
// no one else (fetch may then set deadlines through w, but not hijack it).
// Unsafe methods pass through and, on a 2xx/3xx answer, invalidate what is
// stored for their target URI and same-origin Location/Content-Location.
//
// The error is fetch's, returned when there was no response to give (and
// no stale one to fall back on) — then nothing was written to w — or when
// the response was cut short. A client that gives up while waiting for a
// coalesced fetch gets its context's error.
func (c *Cache) Serve(w http.ResponseWriter, r *http.Request, fetch FetchFunc) (Status, error) {
	return c.serve(w, r, fetch, nil)
}

// serve is Serve, and with bg ServeBackground.
func (c *Cache) serve(w http.ResponseWriter, r *http.Request, fetch Fetcher, bg *Background) (Status, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions, http.MethodTrace, http.MethodConnect:
		return StatusBypass, fetch.Fetch(w, r)
	default:
		return c.serveUnsafe(w, r, fetch)
	}
	h := r.Header
	// Preconditions other than If-None-Match/If-Modified-Since are left
	// to the origin, and so are several ranges (ranges.go).
	if len(h["If-Match"]) > 0 || len(h["If-Unmodified-Since"]) > 0 {
		return StatusBypass, fetch.Fetch(w, r)
	}
	var br byteRange
	rk := rangeNone
	if v := h["Range"]; len(v) > 0 && r.Method == http.MethodGet {
		if br, rk = parseRange(v); rk == rangeMultiple {
			return StatusBypass, fetch.Fetch(w, r)
		}
	}
	var kb [keyBufSize]byte
	key := c.appendKey(kb[:0], r)
	rq := parseRequestDirectives(h)
	now := c.s.Now()
	e, known := c.store.get(key, r)
	if e != nil {
		age := e.currentAge(now)
		if acceptable(e, age, rq) {
			c.stats.hits.Add(1)
			if rk == rangeSingle && e.status == http.StatusOK && !notModified(r, e) && ifRangeMatches(r, e.etag, e.lmRaw) {
				c.writeEntryRange(w, r, e, age, c.hitStatusFor(e, age), br)
				return StatusHit, nil
			}
			c.writeEntry(w, r, e, age, c.hitStatusFor(e, age))
			return StatusHit, nil
		}
		if bg != nil && whileRevalidating(e, age, rq) && c.startRevalidation(bg, r, fetch, e.key) {
			c.stats.stale.Add(1)
			if rk == rangeSingle && e.status == http.StatusOK && !notModified(r, e) && ifRangeMatches(r, e.etag, e.lmRaw) {
				c.writeEntryRange(w, r, e, age, c.csSWR, br)
			} else {
				c.writeEntry(w, r, e, age, c.csSWR)
			}
			return StatusStaleWhileRevalidate, nil
		}
	}
	if rq.onlyIfCached {
		w.Header()["Cache-Status"] = []string{c.csOnlyIfCached[0]} // the response's own (setOwnFields)
		w.WriteHeader(http.StatusGatewayTimeout)
		return StatusOnlyIfCached, nil
	}
	if rk == rangeSingle {
		return c.serveRangeMiss(w, r, fetch, key, e, known, rq, now, br)
	}
	return c.forward(w, r, fetch, key, e, known, rq, now)
}

// acceptable reports whether stored response e, of current age age, may
// answer a request with directives rq without contacting the origin
// (RFC 9111 §4.2 and §5.2.1).
func acceptable(e *entry, age time.Duration, rq requestDirectives) bool {
	if e.noCache || rq.noCache {
		return false
	}
	if rq.maxAge != absent && age > time.Duration(rq.maxAge)*time.Second {
		return false
	}
	remaining := e.lifetime - age
	if rq.minFresh != absent && remaining < time.Duration(rq.minFresh)*time.Second {
		return false
	}
	if remaining > 0 {
		return true
	}
	return !e.noStale && rq.maxStale != absent && -remaining <= time.Duration(rq.maxStale)*time.Second
}

// refusedByRequest reports whether e was fresh but the request's
// directives refused it (for Cache-Status fwd=request).
func refusedByRequest(e *entry, age time.Duration, rq requestDirectives) bool {
	return !e.noCache && e.lifetime > age && (rq.noCache || rq.maxAge != absent || rq.minFresh != absent)
}

// writeEntry writes stored response e to w: the stored header block, Age
// and cacheStatus, then the body unless r is a HEAD. A request whose If-None-Match / If-Modified-Since matches gets 304.
// With Settings.ImplicitLength a GET for a small body (HTTP/1.x and 2)
// leaves Content-Length to the server, which writes it from the one Write
// of the body; HEAD, 304 and ranges keep the stored or computed field.
func (c *Cache) writeEntry(w http.ResponseWriter, r *http.Request, e *entry, age time.Duration, cacheStatus []string) {
	wh := w.Header()
	if notModified(r, e) {
		setOwnFields(wh, e.notModified, age, cacheStatus)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	fields := e.fields
	if e.serverLength && c.s.ImplicitLength && r.Method == http.MethodGet && r.ProtoMajor <= 2 {
		fields = fields[:len(fields)-1] // Content-Length: the server writes the same (ImplicitLength)
	}
	setOwnFields(wh, fields, age, cacheStatus)
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead && len(e.body) > 0 {
		_, _ = w.Write(e.body) // a client that went away is not the cache's error
	}
}

// setOwnFields sets fields, Age and Cache-Status in wh with value slices of
// the response's own, copied into one allocation. The strings are shared
// (they are immutable); the slices may not be: Caddy's header replace, and
// any handler that follows its lead, rewrites a field's values in place, so
// a slice shared with the entry, with another hit or with the table of Age
// values would carry one response's rewrite into every later one, of any
// site (TestCacheHitHeadersAreEachResponsesOwn), and race on it.
func setOwnFields(wh http.Header, fields []field, age time.Duration, cacheStatus []string) {
	n := 1 + len(cacheStatus)
	for _, f := range fields {
		n += len(f.values)
	}
	own := make([]string, n)
	for _, f := range fields {
		k := copy(own, f.values)
		wh[f.name] = own[:k:k]
		own = own[k:]
	}
	own[0] = ageValue(age)
	wh["Age"] = own[:1:1]
	k := copy(own[1:], cacheStatus)
	wh["Cache-Status"] = own[1 : 1+k : 1+k]
}

// notModified evaluates the request's If-None-Match, or else its
// If-Modified-Since, against e (RFC 9110 §13.2.2).
func notModified(r *http.Request, e *entry) bool {
	if e.status != http.StatusOK {
		return false
	}
	if inm := r.Header["If-None-Match"]; len(inm) > 0 {
		return e.etag != "" && etagListMatches(inm, e.etag)
	}
	if ims := r.Header["If-Modified-Since"]; len(ims) > 0 && !e.lastModified.IsZero() {
		t, err := http.ParseTime(ims[0])
		return err == nil && !e.lastModified.After(t)
	}
	return false
}

// etagListMatches reports whether any entity-tag of the If-None-Match
// lines (or "*") weakly matches etag.
func etagListMatches(lines []string, etag string) bool {
	etag = strings.TrimPrefix(etag, "W/")
	for _, l := range lines {
		for rest := trimOWS(l); rest != ""; {
			var tag string
			tag, rest = nextETag(rest)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// nextETag splits the first entity-tag off a comma-separated list; commas
// inside the quoted opaque tag do not split.
func nextETag(s string) (tag, rest string) {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == ',') {
		s = s[1:]
	}
	i := 0
	if strings.HasPrefix(s, "W/") {
		i = 2
	}
	if i < len(s) && s[i] == '"' {
		if j := strings.IndexByte(s[i+1:], '"'); j >= 0 {
			end := i + 1 + j + 1
			return s[:end], s[end:]
		}
		return s, ""
	}
	if j := strings.IndexByte(s, ','); j >= 0 {
		return trimOWS(s[:j]), s[j+1:]
	}
	return trimOWS(s), ""
}
