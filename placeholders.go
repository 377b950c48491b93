package smartproxy

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// requestInfo is what the handler tells the rest of Caddy about one
// request, through placeholders usable in access logs, headers and later
// handlers:
//
//	{http.smartproxy.route}         the route's name (`default`, `api.example.com/v1`, `*/static`)
//	{http.smartproxy.backend}       the backend that answered (its URL)
//	{http.smartproxy.cache_status}  hit, miss, stale, bypass, ... ("" without a cache)
//	{http.smartproxy.retries}       retries the request needed
//	{http.smartproxy.latency}       the backend's time to response headers (a duration)
//	{http.smartproxy.latency_ms}    the same in milliseconds
//
// It is also what the route's cache reaches the backends through on this
// request's miss (Fetch), so the proxy records into it directly.
type requestInfo struct {
	h           *Handler
	rt          *route
	route       string
	backend     string
	cacheStatus string
	retries     int
	latency     time.Duration
	// background: a cache's revalidation, whose answer no client sees
	// (so it sets no sticky cookie).
	background bool
}

// placeholder resolves this request's smartproxy placeholders.
func (ri *requestInfo) placeholder(key string) (any, bool) {
	switch key {
	case "http.smartproxy.route":
		return ri.route, true
	case "http.smartproxy.backend":
		return ri.backend, true
	case "http.smartproxy.cache_status":
		return ri.cacheStatus, true
	case "http.smartproxy.retries":
		return ri.retries, true
	case "http.smartproxy.latency":
		return ri.latency, true
	case "http.smartproxy.latency_ms":
		return float64(ri.latency) / float64(time.Millisecond), true
	}
	return nil, false
}

// newRequestInfo makes r's requestInfo and registers its placeholders.
func (h *Handler) newRequestInfo(r *http.Request, rt *route) *requestInfo {
	ri := &requestInfo{h: h, rt: rt, route: rt.short}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(ri.placeholder)
	}
	return ri
}

// Fetch proxies r, this request or the cache's conditional or whole-object
// form of it, to the route's backends (cache.Fetcher).
func (ri *requestInfo) Fetch(w http.ResponseWriter, r *http.Request) error {
	return ri.h.proxyFor(w, r, ri.rt, ri)
}
