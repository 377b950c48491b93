package cache

import (
	"net/http"
	"net/url"
	"strings"
)

// serveUnsafe passes an unsafe request (POST, PUT, DELETE, PATCH, ...) to
// fetch and, when the answer is 2xx or 3xx, invalidates the stored
// responses for its target URI and for a same-origin Location or
// Content-Location (RFC 9111 §4.4). Invalidation happens as the status is
// written, before the body, so no later request can be served the old
// response once the client has seen the new status.
func (c *Cache) serveUnsafe(w http.ResponseWriter, r *http.Request, fetch Fetcher) (Status, error) {
	iw := &invalidator{w: w, c: c, r: r}
	err := fetch.Fetch(iw, r)
	if err == nil && !iw.decided {
		iw.decide(http.StatusOK)
	}
	return StatusBypass, err
}

// invalidator is the ResponseWriter of an unsafe request: a pass-through
// that watches the status code.
type invalidator struct {
	w       http.ResponseWriter
	c       *Cache
	r       *http.Request
	decided bool
}

func (iw *invalidator) Header() http.Header { return iw.w.Header() }

func (iw *invalidator) WriteHeader(code int) {
	if code >= 200 {
		iw.decide(code)
	}
	iw.w.WriteHeader(code)
}

func (iw *invalidator) Write(p []byte) (int, error) {
	if !iw.decided {
		iw.decide(http.StatusOK)
	}
	return iw.w.Write(p)
}

// Flush keeps streaming responses to unsafe requests working.
func (iw *invalidator) Flush() {
	if !iw.decided {
		iw.decide(http.StatusOK)
	}
	if f, ok := iw.w.(http.Flusher); ok {
		f.Flush()
		return
	}
	_ = http.NewResponseController(iw.w).Flush()
}

// Unwrap lets http.ResponseController reach the client's writer.
func (iw *invalidator) Unwrap() http.ResponseWriter { return iw.w }

func (iw *invalidator) decide(code int) {
	if iw.decided {
		return
	}
	iw.decided = true
	if code < 200 || code >= 400 {
		return
	}
	c, r := iw.c, iw.r
	base := originURL(r)
	n := c.invalidateURL(r, base)
	h := iw.w.Header()
	for _, name := range [...]string{"Location", "Content-Location"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		if u, err := base.Parse(v); err == nil && sameOrigin(r, u) {
			n += c.invalidateURL(r, u)
		}
	}
	c.stats.invalidations.Add(uint64(n))
}

// invalidateURL removes every variant stored for a GET of u (same origin
// as r, already checked) on r's connection. The synthetic GET keeps r's
// TLS state, which is what decides the key's scheme.
func (c *Cache) invalidateURL(r *http.Request, u *url.URL) int {
	target := &url.URL{Scheme: requestScheme(r), Host: requestHost(r), Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	g := &http.Request{Method: http.MethodGet, URL: target, Host: requestHost(r), TLS: r.TLS, Header: http.Header{}}
	var kb [keyBufSize]byte
	key := string(c.appendKey(kb[:0], g))
	c.purgeTier(TierPurge{Kind: PurgeKey, Arg: key})
	return c.store.removeKey(key)
}

// requestScheme is the scheme of the connection r arrived on: https when
// it is TLS, else http. The scheme of an absolute-form target is the
// client's say and is never trusted (see DefaultKey).
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// requestHost is the host r is for: r.Host, else r.URL.Host.
func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

// originURL is r's target URI with the connection's scheme, the base that
// Location and Content-Location are resolved against.
func originURL(r *http.Request) *url.URL {
	return &url.URL{Scheme: requestScheme(r), Host: requestHost(r),
		Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
}

// sameOrigin reports whether u (resolved against r's URL) has r's scheme
// and host; RFC 9111 §4.4 forbids invalidating other origins, which a
// backend could otherwise use to purge another site's responses.
func sameOrigin(r *http.Request, u *url.URL) bool {
	if u.Host == "" {
		return true
	}
	return strings.EqualFold(u.Host, requestHost(r)) && strings.EqualFold(u.Scheme, requestScheme(r))
}

// Interface guards
var (
	_ http.ResponseWriter = (*invalidator)(nil)
	_ http.Flusher        = (*invalidator)(nil)
)
