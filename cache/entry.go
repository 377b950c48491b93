package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// field is one stored header, ready to be assigned to a ResponseWriter's
// header map. values has len == cap, so a later append by a caller copies
// instead of writing into the stored array.
type field struct {
	name   string
	values []string
}

// entry is one stored response. It is immutable once built: a refresh
// builds a new entry sharing the body. Immutability is what lets the hit
// path write it without holding the store lock.
//
// The header values are handed to every client's header map by reference
// (no copy per hit). net/http only reads them, and Header.Set/Add/Del
// replace rather than modify them, but code that writes into an element of
// a response header slice in place (h["X"][0] = ...) after the cache served
// it would corrupt the stored entry. That is the price of allocation-free
// hits; no known Caddy handler does it.
type entry struct {
	full      string   // key, a 0 byte, secondary: the store's index key
	key       string   // primary key (a prefix of full)
	secondary string   // secondary key over varyNames (a suffix of full)
	varyNames []string // canonical, sorted

	status      int
	fields      []field  // full header block, Content-Length included (last, when there is one)
	notModified []field  // the subset sent with a 304 (RFC 9110 §15.4.5)
	hitStatus   []string // Cache-Status value for a hit
	body        []byte

	etag         string
	lastModified time.Time
	lmRaw        string

	responseTime time.Time
	initialAge   time.Duration // corrected_initial_age
	lifetime     time.Duration // freshness lifetime
	noCache      bool          // always revalidate
	noStale      bool          // must-revalidate, proxy-revalidate or s-maxage: never serve stale
	heuristic    bool          // lifetime is heuristic: hits say their ttl
	swr          time.Duration // stale-while-revalidate window (swr.go)
	serverLength bool          // fields ends with a Content-Length net/http would write alike (Settings.ImplicitLength)

	size int64 // bytes counted against MaxBytes

	tags   []string // see tags.go; never modified
	hidden []field  // stored fields kept from clients (Cache.hidden)

	// Owned by the store and guarded by its lock (the only mutable
	// fields): the URL's variants and e's place on their recency list.
	group        *variants
	vprev, vnext *entry
}

// hopByHop lists the headers a cache never stores (RFC 9110 §7.6.1), plus
// Age, which the cache computes itself.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Proxy-Authenticate": true, "Proxy-Authorization": true, "Age": true,
}

// notModifiedHeaders are sent with a 304 built from a stored response.
var notModifiedHeaders = map[string]bool{
	"Cache-Control": true, "Content-Location": true, "Date": true, "Etag": true,
	"Expires": true, "Vary": true, "Last-Modified": true,
}

// storedHeader copies h without hop-by-hop headers, headers named by
// Connection, and trailer placeholders. The copy owns its slices.
func storedHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		if hopByHop[k] || strings.HasPrefix(k, http.TrailerPrefix) || listedIn(h["Connection"], k) {
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}

func listedIn(lines []string, name string) bool {
	for _, l := range lines {
		for rest := l; rest != ""; {
			var n string
			n, _, rest = nextDirective(rest)
			if strings.EqualFold(n, name) {
				return true
			}
		}
	}
	return false
}

// newEntry builds an entry for a response with status code, stored header
// h (already passed through storedHeader; newEntry takes ownership) and
// body. upstreamAge is the Age header the response arrived with.
func (c *Cache) newEntry(key, secondary string, vary []string, code int, h http.Header, body []byte,
	upstreamAge time.Duration, requestTime, responseTime time.Time) *entry {
	d := c.responseDirectives(h)
	date := parseDate(h, "Date")
	dateOrReceipt := date
	if dateOrReceipt.IsZero() {
		dateOrReceipt = responseTime
	}
	f := c.freshnessLifetime(code, h, d, dateOrReceipt)
	full := key + "\x00" + secondary
	e := &entry{
		full: full, key: full[:len(key)], secondary: full[len(key)+1:], varyNames: vary,
		status: code, body: body,
		responseTime: responseTime,
		initialAge:   correctedInitialAge(date, upstreamAge, requestTime, responseTime),
		lifetime:     f.lifetime,
		noCache:      d.noCache,
		noStale:      d.mustRevalidate || d.proxyRevalidate || d.sMaxAge != absent,
		heuristic:    f.heuristic,
		swr:          c.s.StaleWhileRevalidate,
	}
	if d.staleWhileRevalidate != absent {
		e.swr = time.Duration(d.staleWhileRevalidate) * time.Second
	}
	c.assemble(e, h)
	return e
}

// assemble completes e, whose key, status, body, times and freshness are
// set, from its stored header h (taking ownership): validators, the
// Content-Length of the body, tags, the hidden fields, the hit status,
// the header block and the entry's size.
func (c *Cache) assemble(e *entry, h http.Header) {
	if v := h["Etag"]; len(v) > 0 {
		e.etag = v[0]
	}
	if v := h["Last-Modified"]; len(v) > 0 {
		e.lmRaw = v[0]
		e.lastModified = parseDate(h, "Last-Modified")
	}
	delete(h, "Content-Length")
	if bodyAllowed(e.status) {
		h["Content-Length"] = []string{strconv.Itoa(len(e.body))}
	}
	e.tags = parseTags(h, c.s.TagHeaders)
	size := tagsBytes(e.tags)
	for _, name := range c.hidden {
		if v, ok := h[name]; ok {
			e.hidden = append(e.hidden, field{name, v[:len(v):len(v)]})
			size += headerBytes(http.Header{name: v})
			delete(h, name)
		}
	}
	e.hitStatus = append(h["Cache-Status"][:len(h["Cache-Status"]):len(h["Cache-Status"])], c.s.Name+"; hit")
	e.hitStatus = e.hitStatus[:len(e.hitStatus):len(e.hitStatus)]
	delete(h, "Cache-Status")
	e.fields = make([]field, 0, len(h))
	var length []string
	for k, v := range h {
		vals := v[:len(v):len(v)]
		if k == "Content-Length" {
			length = vals // last, so that a hit can leave it out (serverLength)
			continue
		}
		e.fields = append(e.fields, field{k, vals})
		if notModifiedHeaders[k] {
			e.notModified = append(e.notModified, field{k, vals})
		}
	}
	if length != nil {
		e.fields = append(e.fields, field{"Content-Length", length})
		e.serverLength = len(e.body) <= implicitLengthMax
	}
	e.size = entryOverhead + int64(len(e.full)+cap(e.body)) + headerBytes(h) + size
}

func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// header rebuilds the stored header map (for a refresh).
func (e *entry) header() http.Header {
	h := make(http.Header, len(e.fields)+len(e.hidden)+1)
	for _, f := range e.fields {
		h[f.name] = append([]string(nil), f.values...)
	}
	for _, f := range e.hidden {
		h[f.name] = append([]string(nil), f.values...)
	}
	if n := len(e.hitStatus) - 1; n > 0 {
		h["Cache-Status"] = append([]string(nil), e.hitStatus[:n]...)
	}
	return h
}

// refreshed returns a copy of e whose headers are updated with those of a
// 304 response (RFC 9111 §3.2 and §4.3.4): every field of the 304 replaces
// the stored one, except Content-Length and headers never stored. It also
// returns the merged header, for the storability check.
func (c *Cache) refreshed(e *entry, notModified http.Header, requestTime, responseTime time.Time) (*entry, http.Header) {
	h := e.header()
	for k, v := range storedHeader(notModified) {
		if k == "Content-Length" {
			continue
		}
		h[k] = v
	}
	return c.newEntry(e.key, e.secondary, e.varyNames, e.status, h, e.body,
		parseAge(notModified), requestTime, responseTime), h
}

// currentAge is RFC 9111 §4.2.3's current_age at now.
func (e *entry) currentAge(now time.Time) time.Duration {
	return e.initialAge + max(now.Sub(e.responseTime), 0)
}

// matches reports whether e was stored for a request with r's values of
// the headers e varies on. It does not allocate for short keys.
func (e *entry) matches(r *http.Request) bool {
	if len(e.varyNames) == 0 {
		return true
	}
	var buf [keyBufSize]byte
	return string(appendSecondaryKey(buf[:0], r, e.varyNames)) == e.secondary
}

// hasValidator reports whether e can be revalidated with a conditional
// request.
func (e *entry) hasValidator() bool {
	return e.etag != "" || e.lmRaw != ""
}
