// Package config is the one definition of smartproxy's configuration: the
// JSON shape of the http.handlers.smartproxy handler, which the Caddyfile
// directive and the yaml adapter produce, and the validation rules that all
// three front ends share. Keeping both here (and not in the root package)
// lets the yaml adapter validate a file and point at the offending line
// without a second copy of the rules and without an import cycle.
//
// The keys are the seed YAML's keys. The top level of a Config is the
// default route; each entry of Routes matches on host and path prefix and
// may set any of the same sections. A route inherits, section by section,
// every section it leaves unset: a route that sets rate_limit replaces the
// top-level rate_limit whole, it does not merge field by field.
package config

import (
	"github.com/caddyserver/caddy/v2"
)

// Config is the whole smartproxy handler configuration.
type Config struct {
	Section

	// Routes are matched by host and longest path prefix before the top
	// level, which serves as the default route. A request that matches no
	// route goes to the top-level backends, or, when there are none, to the
	// next handler in Caddy's chain. Default: none.
	Routes []Route `json:"routes,omitempty"`

	// AdminState shares the state the admin API sets (drain, maint,
	// ready, live weights) with every instance configured with the same
	// store. Default: none (each instance keeps its own).
	AdminState *AdminState `json:"admin_state,omitempty"`
}

// Route is one entry of Config.Routes.
type Route struct {
	// Host the request must be for: an exact name (`api.example.com`), a
	// wildcard of one label (`*.example.com`), or empty for any host. A
	// port in the request's Host is ignored. Default: any host.
	Host string `json:"host,omitempty"`

	// Path prefix the request path must start with, segment-wise: `/v1`
	// matches `/v1` and `/v1/users` but not `/v1x`. Longest prefix wins.
	// Default: `/` (every path).
	Path string `json:"path,omitempty"`

	Section
}

// Section holds the keys that the top level and every route share.
type Section struct {
	// Timeout bounds how long the proxy waits for a backend to answer: from
	// dialing until the response headers arrive. Streaming a response body
	// (downloads, server-sent events, WebSockets) is not cut by it. A
	// request that exceeds it gets 504 Gateway Timeout. It is
	// timeouts.response_header under its seed name. Default: 30s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Timeouts bounds each phase of an exchange with a backend: dial,
	// response headers, each read and write, idle connections, and the
	// client's request body. A route that sets it replaces the top
	// level's whole. Default: see Timeouts.
	Timeouts *Timeouts `json:"timeouts,omitempty"`

	// Backends are the upstream servers. Default: none (inherited from the
	// top level for a route).
	Backends []Backend `json:"backends,omitempty"`

	// Discovery takes backends from DNS, in addition to Backends or
	// instead of them. A route that sets neither Backends nor Discovery
	// inherits both from the top level. Default: none.
	Discovery *Discovery `json:"discovery,omitempty"`

	// LoadBalancer chooses the strategy that spreads requests over the
	// available backends. Default: round robin.
	LoadBalancer *LoadBalancer `json:"load_balancer,omitempty"`

	// HealthCheck configures active (and passive) health checking.
	// Default: off; every backend is considered healthy.
	HealthCheck *HealthCheck `json:"health_check,omitempty"`

	// CircuitBreaker configures a breaker per backend. Default: off.
	CircuitBreaker *CircuitBreaker `json:"circuit_breaker,omitempty"`

	// RateLimit configures token-bucket rate limiting. Default: off.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`

	// Cache configures the in-memory HTTP response cache. Default: off.
	Cache *Cache `json:"cache,omitempty"`

	// StreamCloseDelay is how long upgraded connections (WebSockets and
	// the like) to a backend stay open once no config has the backend any
	// more (a reload removed it or the handler); a reload that keeps the
	// backend keeps them open whatever this says. As Caddy's
	// reverse_proxy. Default: 0 (closed at once).
	StreamCloseDelay caddy.Duration `json:"stream_close_delay,omitempty"`

	// Retries configures retrying failed requests on another backend.
	// Default: a request that failed before anything was sent (dial
	// error, refused connection) is retried once on another backend.
	Retries *Retries `json:"retries,omitempty"`

	// TLS configures TLS to https:// backends (trust, mutual TLS, the
	// name verified). A backend may override it with its own tls.
	// Default: Go's defaults with the system roots.
	TLS *BackendTLS `json:"tls,omitempty"`

	// HostHeader is the Host sent to backends: `client` (the client's
	// Host), `backend` (the backend URL's host[:port]; for a backend found
	// by DNS discovery, the name it was found under and its port), or any
	// value with Caddy placeholders. Default: client for http:// and h2c://
	// backends, backend for https:// ones (as Caddy's reverse_proxy):
	// TLS backends behind SNI routing or a CDN need their own name.
	HostHeader string `json:"host_header,omitempty"`

	// Headers sets, adds and deletes request headers (to backends) and
	// response headers (to clients), with placeholders. Default: none.
	Headers *Headers `json:"headers,omitempty"`

	// StripPathPrefix is taken off the request path, whole segments at a
	// time, before the backend URL's own path is put in front:
	// `/api` sends `/api/users` as `/users` and `/api` as `/`; a path
	// that does not start with it goes unchanged. Routing, rate limits
	// and cache keys see the client's path. Default: none.
	StripPathPrefix string `json:"strip_path_prefix,omitempty"`

	// Mirror copies a share of the requests to other backends in the
	// background (shadow traffic); the client sees only the primary's
	// answer. Default: off.
	Mirror *Mirror `json:"mirror,omitempty"`
}

// Backend is one upstream server.
type Backend struct {
	// URL of the upstream: `http://host:port`, `https://host:port` or
	// `h2c://host:port`, optionally with a path that is prepended to every
	// request path. A missing port defaults to the scheme's (80, 443).
	URL string `json:"url"`

	// Weight of the backend for weight-aware strategies; 0 drains it (it
	// gets no new requests). At most 1000000. Default: 1.
	Weight *int `json:"weight,omitempty"`

	// Backup makes the backend a standby: it gets requests only while no
	// other (non-backup) backend of its route is available, whatever the
	// algorithm, and the primaries take over again as soon as one is. A
	// route's backends may not all be backups (discovered backends are
	// primaries). Default: false.
	Backup bool `json:"backup,omitempty"`

	// TLS replaces the section's tls for this backend alone (https://
	// only). Default: the section's.
	TLS *BackendTLS `json:"tls,omitempty"`

	// MaxRequests caps the requests in flight to this backend, upgraded
	// connections (WebSockets) included while they are open: a backend at
	// its cap gets no new request until one of its own finishes, and a
	// request that finds every available backend at its cap waits in
	// load_balancer.queue (or, without one, gets 503). The count is the
	// route's and is shared by the configs of a reload. Default: 0, which
	// means load_balancer.max_requests.
	MaxRequests int `json:"max_requests,omitempty"`
}

// WeightOrDefault returns the backend's weight, 1 when unset.
func (b Backend) WeightOrDefault() int {
	if b.Weight == nil {
		return 1
	}
	return *b.Weight
}

// LoadBalancer selects and tunes the load-balancing strategy.
type LoadBalancer struct {
	// Algorithm is the strategy's name: `round_robin`,
	// `weighted_round_robin`, `least_connections`, `random`, `p2c`,
	// `ip_hash`, `header_hash`, `uri_hash` or `least_latency`.
	// Default: `round_robin`.
	Algorithm string `json:"algorithm,omitempty"`

	// HashHeader names the request header whose value `header_hash`
	// hashes. Required with `header_hash`, not allowed otherwise.
	HashHeader string `json:"hash_header,omitempty"`

	// SlowStart ramps a backend that becomes available from a small share
	// up to its full share over this long, instead of a sudden herd.
	// Default: 0 (off).
	SlowStart caddy.Duration `json:"slow_start,omitempty"`

	// PanicThreshold is a fraction in [0, 1]: when fewer than this fraction
	// of the backends are available, requests are balanced over all of
	// them rather than overloading the few. Default: 0 (off).
	PanicThreshold float64 `json:"panic_threshold,omitempty"`

	// MaxRequests is the in-flight cap of every backend that sets no
	// max_requests of its own (see Backend.MaxRequests). Default: 0 (no
	// cap).
	MaxRequests int `json:"max_requests,omitempty"`

	// Queue holds requests that find every available backend at its cap
	// until a slot frees, first come first served. Default: none (such a
	// request gets 503 at once).
	Queue *Queue `json:"queue,omitempty"`

	// Sticky pins each client to the backend that answered it first, by a
	// cookie, on top of the algorithm. Default: off.
	Sticky *Sticky `json:"sticky,omitempty"`
}

// AlgorithmOrDefault returns the configured algorithm, round_robin when
// unset.
func (lb *LoadBalancer) AlgorithmOrDefault() string {
	if lb == nil || lb.Algorithm == "" {
		return "round_robin"
	}
	return lb.Algorithm
}
