package smartproxy

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
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
type requestInfo struct {
	route       string
	backend     string
	cacheStatus string
	retries     int
	latency     time.Duration
}

// infoVarKey is the context var that carries the requestInfo to the cache's
// fetch function.
const infoVarKey = "smartproxy.info"

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
func newRequestInfo(r *http.Request, rt *route) *requestInfo {
	ri := &requestInfo{route: rt.short}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(ri.placeholder)
	}
	if rt.cache != nil {
		caddyhttp.SetVar(r.Context(), infoVarKey, ri)
	}
	return ri
}

// infoOf returns the requestInfo that ServeHTTP stored for r, or a fresh
// one when there is none (a request that did not come through ServeHTTP).
func infoOf(r *http.Request) *requestInfo {
	if ri, ok := caddyhttp.GetVar(r.Context(), infoVarKey).(*requestInfo); ok {
		return ri
	}
	return new(requestInfo)
}
