package config

import "github.com/caddyserver/caddy/v2"

// HealthCheck configures the active health checker and passive checks.
type HealthCheck struct {
	// Interval between two checks of one backend. Default: 30s.
	Interval caddy.Duration `json:"interval,omitempty"`

	// Timeout of one check; must not exceed Interval (checks of one
	// backend never overlap). Default: 10s, or half the interval when that
	// is shorter.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Path requested on each backend. Default: `/health`.
	Path string `json:"path,omitempty"`

	// Method of the check request. Default: `GET`.
	Method string `json:"method,omitempty"`

	// ExpectStatus is the status a healthy backend answers: a code
	// (`200`), a class (`2xx`) or a range (`200-399`). Default: `2xx`.
	ExpectStatus string `json:"expect_status,omitempty"`

	// ExpectBody is a regular expression the response body (its first
	// 64 KiB) must match. Default: none.
	ExpectBody string `json:"expect_body,omitempty"`

	// HealthyThreshold is the number of consecutive passed checks that
	// make an unhealthy backend healthy ("rise"). Default: 2.
	HealthyThreshold int `json:"healthy_threshold,omitempty"`

	// UnhealthyThreshold is the number of consecutive failed checks that
	// make a healthy backend unhealthy ("fall"). Default: 3.
	UnhealthyThreshold int `json:"unhealthy_threshold,omitempty"`

	// Jitter spreads checks by up to this fraction of Interval, so checks
	// of many backends do not synchronise. Default: 0.1.
	Jitter float64 `json:"jitter,omitempty"`

	// InitialState of a backend not seen before: `healthy` (so a fresh
	// start does not refuse traffic before the first check) or
	// `unhealthy`. Default: `healthy`.
	InitialState string `json:"initial_state,omitempty"`

	// Headers are added to every check request (e.g. a `Host`).
	Headers map[string]string `json:"headers,omitempty"`

	// Type of the active check: `http` (a request for Path, judged by
	// ExpectStatus and ExpectBody; h2c backends are asked over h2c) or
	// `grpc` (the gRPC health protocol, grpc.health.v1.Health/Check, over
	// h2c or TLS; needs h2c:// or https:// backends, and Path, Method,
	// ExpectStatus and ExpectBody do not apply). Default: http.
	Type string `json:"type,omitempty"`

	// Service is the service name a `grpc` check asks about; empty asks
	// about the server as a whole. Only with type grpc. Default: "".
	Service string `json:"service,omitempty"`

	// Active, when false, turns active probing off: only passive checks
	// (PassiveFailures) take backends out, and PassiveCooldown brings them
	// back. Default: true.
	Active *bool `json:"active,omitempty"`

	// PassiveFailures is the number of consecutive failed real requests
	// (transport errors, or statuses in UnhealthyStatuses) that mark a
	// backend unhealthy. Default: 0 (passive checks off).
	PassiveFailures int `json:"passive_failures,omitempty"`

	// UnhealthyStatuses are response statuses that count as passive
	// failures. Default: none (only transport errors count).
	UnhealthyStatuses []int `json:"unhealthy_statuses,omitempty"`

	// PassiveCooldown is how long a passively failed backend stays out when
	// no active check would bring it back. Default: 30s.
	PassiveCooldown caddy.Duration `json:"passive_cooldown,omitempty"`
}

// CircuitBreaker configures the per-backend circuit breakers.
type CircuitBreaker struct {
	// FailureThreshold is the number of consecutive failures that trip
	// (open) a backend's breaker. Default: 5.
	FailureThreshold int `json:"failure_threshold,omitempty"`

	// ErrorRatio trips the breaker when the fraction of failed requests
	// over Window exceeds it, once MinRequests were seen. Default: 0 (off).
	ErrorRatio float64 `json:"error_ratio,omitempty"`

	// Window is the rolling window of ErrorRatio and LatencyThreshold.
	// Default: 10s.
	Window caddy.Duration `json:"window,omitempty"`

	// MinRequests is the least number of requests in Window before
	// ErrorRatio or LatencyThreshold may trip. Default: 20.
	MinRequests int `json:"min_requests,omitempty"`

	// LatencyThreshold trips the breaker when the LatencyQuantile of
	// response times over Window exceeds it. Default: 0 (off).
	LatencyThreshold caddy.Duration `json:"latency_threshold,omitempty"`

	// LatencyQuantile is the quantile LatencyThreshold applies to.
	// Default: 0.9.
	LatencyQuantile float64 `json:"latency_quantile,omitempty"`

	// BaseBackoff is how long a breaker stays open after its first trip;
	// each consecutive trip doubles it. Default: 1s.
	BaseBackoff caddy.Duration `json:"base_backoff,omitempty"`

	// MaxBackoff caps the open time. Default: 60s.
	MaxBackoff caddy.Duration `json:"max_backoff,omitempty"`

	// Jitter randomises each open time by up to this fraction.
	// Default: 0.1.
	Jitter float64 `json:"jitter,omitempty"`

	// HalfOpenRequests is the number of probe requests a half-open breaker
	// admits at a time. Default: 1.
	HalfOpenRequests int `json:"half_open_requests,omitempty"`

	// SuccessThreshold is the number of consecutive successful probes that
	// close a half-open breaker. Default: 1.
	SuccessThreshold int `json:"success_threshold,omitempty"`
}

// RateLimit configures token-bucket rate limiting.
type RateLimit struct {
	// RequestsPerSecond is the rate at which tokens refill; fractions are
	// allowed (0.5 = one request every two seconds). Required.
	RequestsPerSecond float64 `json:"requests_per_second,omitempty"`

	// Burst is the bucket size: how many requests may arrive at once.
	// Required; at least 1.
	Burst int `json:"burst,omitempty"`

	// Key is a Caddy placeholder expression naming the bucket of a
	// request, e.g. `{http.request.remote.host}` or
	// `{http.request.remote.host}-{http.request.header.X-Api-Key}`.
	// Default: the client IP that Caddy resolved (which honours the
	// server's `trusted_proxies`; a raw X-Forwarded-For is not trusted).
	Key string `json:"key,omitempty"`

	// IPv6Prefix is the prefix length, 1 to 128, by which the default key
	// (the client IP) groups IPv6 clients: every address of one /64 shares
	// a bucket, since one host may use any of them. IPv4-mapped addresses
	// count as the IPv4 address. Only with the default key. Default: 64.
	IPv6Prefix int `json:"ipv6_prefix,omitempty"`

	// KeyFallback says what keys a request for which a placeholder of Key
	// is empty (such as a header the request lacks), instead of a key with
	// a hole in it that every such request would share: `client_ip` (the
	// client IP, as if no key were set),
	// `refuse` (answer 400 Bad Request) or `shared` (one bucket for all
	// such requests). Only with Key. Default: client_ip.
	KeyFallback string `json:"key_fallback,omitempty"`

	// Global limits the route as a whole with one bucket; Key is ignored.
	// Default: false.
	Global bool `json:"global,omitempty"`

	// MaxKeys bounds the number of buckets kept in memory. Default: 100000.
	MaxKeys int `json:"max_keys,omitempty"`

	// Headers, when false, turns off the RateLimit-Policy and RateLimit
	// response headers. Default: true.
	Headers *bool `json:"headers,omitempty"`

	// Store is where the buckets live: `local` (this instance's memory) or
	// `redis` (one set of buckets shared by every instance that uses the
	// same Redis, so N instances enforce one limit, not N). Default: local.
	Store string `json:"store,omitempty"`

	// Redis configures the shared store; required with store `redis`.
	Redis *RedisStore `json:"redis,omitempty"`
}

// RedisStore is the Redis server that holds shared rate-limit buckets.
type RedisStore struct {
	// Address of the Redis server, host:port. Required (or, for the
	// shared cache, addresses).
	Address string `json:"address,omitempty"`

	// Addresses are several host:port, for the shared cache only: the
	// nodes of a Redis Cluster, or with master_name the Sentinels.
	// Default: none (address).
	Addresses []string `json:"addresses,omitempty"`

	// MasterName is the name of the Sentinel-managed master to follow, for
	// the shared cache only. Default: none.
	MasterName string `json:"master_name,omitempty"`

	// Username and Password for Redis AUTH. Caddy placeholders are
	// expanded, so `{env.REDIS_PASSWORD}` keeps the secret out of the
	// config. Default: none.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`

	// DB is the Redis database number. Default: 0.
	DB int `json:"db,omitempty"`

	// KeyPrefix starts every Redis key this store writes; the route's name
	// follows it, so routes never share buckets. Default: `smartproxy:rl:`.
	KeyPrefix string `json:"key_prefix,omitempty"`

	// DialTimeout bounds connecting to Redis. Default: 1s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// Timeout bounds every Redis call a request may wait on; past it the
	// failure policy applies. Default: 100ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// TLS, when set, connects to Redis over TLS.
	TLS *RedisTLS `json:"tls,omitempty"`

	// LeaseSize is the most tokens an instance takes from Redis at once and
	// spends locally; larger leases mean fewer round trips and a looser
	// bound (see the README). Default: 10, or 10ms of rate when that is
	// more; always capped by burst/2 and 100ms of rate.
	LeaseSize int `json:"lease_size,omitempty"`

	// FailurePolicy says what happens while Redis cannot be reached:
	// `fail_open` limits with this instance's own buckets (same rate and
	// burst), `fail_closed` refuses requests with 503. Default: fail_open.
	FailurePolicy string `json:"failure_policy,omitempty"`
}

// RedisTLS configures TLS to Redis.
type RedisTLS struct {
	// ServerName to verify; default: the host of Address.
	ServerName string `json:"server_name,omitempty"`
	// CAFile is a PEM file of CAs to trust; default: the system roots.
	CAFile string `json:"ca_file,omitempty"`
	// InsecureSkipVerify turns certificate verification off (testing only).
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// Cache configures the HTTP response cache.
type Cache struct {
	// MaxSize is the most responses kept. Default: 1000.
	MaxSize int `json:"max_size,omitempty"`

	// MaxBytes bounds the memory held by stored responses. Default: 64 MiB.
	MaxBytes int64 `json:"max_bytes,omitempty"`

	// MaxEntryBytes is the largest response stored; larger ones stream
	// through uncached. Default: 1 MiB.
	MaxEntryBytes int64 `json:"max_entry_bytes,omitempty"`

	// MaxVariants is the most Vary variants kept for one URL; storing one
	// more evicts that URL's least recently used variant. Default: 16.
	MaxVariants int `json:"max_variants,omitempty"`

	// TTL is the freshness lifetime given to a cacheable response that
	// carries no explicit freshness (no max-age, s-maxage or Expires).
	// 0 turns this heuristic off. Default: 0.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// MaxTTL caps every freshness lifetime. Default: 0 (no cap).
	MaxTTL caddy.Duration `json:"max_ttl,omitempty"`

	// StaleIfError is how long past expiry a stored response may be served
	// when no backend can answer. Default: 0 (off).
	StaleIfError caddy.Duration `json:"stale_if_error,omitempty"`

	// StaleWhileRevalidate is the stale-while-revalidate window (RFC 5861)
	// for responses that state none: that long past freshness a stored
	// response is served at once while one background request revalidates
	// it. Default: 0 (only the responses' own directive counts).
	StaleWhileRevalidate caddy.Duration `json:"stale_while_revalidate,omitempty"`

	// CoalesceTimeout bounds how long concurrent misses for one key wait
	// for the one request sent to the backend. Default: 10s.
	CoalesceTimeout caddy.Duration `json:"coalesce_timeout,omitempty"`

	// AllowSetCookie stores responses that carry Set-Cookie.
	// Default: false.
	AllowSetCookie bool `json:"allow_set_cookie,omitempty"`

	// IgnoreQuery leaves the query string out of the cache key.
	// Default: false.
	IgnoreQuery bool `json:"ignore_query,omitempty"`

	// TagHeaders are the response fields whose values (separated by
	// spaces or commas) tag a stored response, for purging by tag
	// through the admin API. An empty list turns tags off. Default:
	// ["Surrogate-Key", "Cache-Tag"].
	TagHeaders []string `json:"tag_headers,omitempty"`

	// ExposeTags passes the tag fields on to clients. Default: false (they
	// are removed from responses the cache serves or forwards).
	ExposeTags bool `json:"expose_tags,omitempty"`

	// Targets are the targeted cache-control fields (RFC 9213) this cache
	// obeys, first match wins: a valid one overrides Cache-Control and
	// Expires for this cache. An empty list turns them off. Default:
	// ["CDN-Cache-Control"].
	Targets []string `json:"targets,omitempty"`

	// StripTargets removes the targeted fields from responses to clients.
	// Default: false (passed downstream unchanged).
	StripTargets bool `json:"strip_targets,omitempty"`

	// Heuristic turns on heuristic freshness from Last-Modified (RFC 9111
	// §4.2.2) for responses with no explicit freshness. Default: off.
	Heuristic *CacheHeuristic `json:"heuristic,omitempty"`

	// Shared puts a tier that every proxy instance using the same Redis
	// shares behind this cache's memory: misses look there before the
	// backends, fills are written there, concurrent misses across the
	// instances send one request to the backends, and purges reach every
	// instance (see the README). Default: off (each instance caches alone).
	Shared *CacheShared `json:"shared,omitempty"`
}

// CacheHeuristic configures heuristic freshness from Last-Modified: a
// response is fresh for Fraction of the time since it was last modified,
// at most Max.
type CacheHeuristic struct {
	// Fraction of (Date - Last-Modified) a response stays fresh, in
	// (0, 1]. Required; 0.1 is usual.
	Fraction float64 `json:"fraction,omitempty"`

	// Max caps the heuristic lifetime. Default: 24h.
	Max caddy.Duration `json:"max,omitempty"`
}

// Retries configures retrying failed requests on other backends.
type Retries struct {
	// Count is the most retries of one request. Default: 1.
	Count *int `json:"count,omitempty"`

	// Backoff is the wait before the first retry; it doubles on each
	// further retry, with jitter. Default: 0 (retry at once).
	Backoff caddy.Duration `json:"backoff,omitempty"`

	// Budget caps retries at this fraction of the requests in flight, so a
	// fleet-wide outage does not multiply the load. Default: 0.2.
	Budget float64 `json:"budget,omitempty"`

	// MaxBodyBytes is the largest request body that is buffered so it can
	// be replayed on a retry; larger bodies are not retried once sent.
	// Default: 64 KiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	// OnStatus are the backend answers that are retried on another
	// backend (for a request that may be sent again): any of 429 and
	// 500-599. The last try's answer goes to the client as it is.
	// Default: [502, 503, 504].
	OnStatus []int `json:"on_status,omitempty"`

	// Methods are the request methods that may be sent again after they
	// reached a backend (a transport failure, or an OnStatus answer). A
	// request with an Idempotency-Key header may always be. A try that
	// reached no backend moves on whatever the method. Default: the
	// idempotent methods GET, HEAD, OPTIONS, TRACE, PUT and DELETE.
	Methods []string `json:"methods,omitempty"`
}

// Discovery configures where a section's backends are discovered.
type Discovery struct {
	// DNS takes backends from a DNS name. Required.
	DNS *DNSDiscovery `json:"dns,omitempty"`
}

// DNSDiscovery takes backends from DNS records of one name, re-resolved
// every Refresh; a failed or empty lookup keeps the last good set.
type DNSDiscovery struct {
	// Name is the DNS name asked: a host name for types A and AAAA, a
	// service name (`_api._tcp.example.com`) for SRV. Required.
	Name string `json:"name,omitempty"`

	// Type is `A` (A and AAAA records), `AAAA` or `SRV` (port, weight and
	// priority from the records; targets of a priority after the best are
	// backups, used only while no best-priority target is available).
	// Default: A.
	Type string `json:"type,omitempty"`

	// Port of every discovered backend; not allowed with SRV.
	// Default: the scheme's port (80 for http and h2c, 443 for https).
	Port int `json:"port,omitempty"`

	// Scheme of the discovered backends: `http`, `https` or `h2c`; it
	// must match the scheme of the section's backends. An https backend
	// is dialled at its address, but its TLS server name (SNI, and the
	// name its certificate must carry, for requests and health checks) is
	// tls.server_name when set, else the name it was found under: Name
	// for A and AAAA, the SRV record's target, without the trailing dot.
	// Default: http.
	Scheme string `json:"scheme,omitempty"`

	// Refresh is the time between two lookups, at least 1s; a record TTL
	// that is longer postpones the next lookup until it runs out (at most
	// 1h). Default: 30s.
	Refresh caddy.Duration `json:"refresh,omitempty"`

	// Resolvers are the DNS servers asked, in order, each an IP address
	// with an optional port (default 53). Default: the nameservers of
	// /etc/resolv.conf.
	Resolvers []string `json:"resolvers,omitempty"`

	// Timeout bounds one query to one resolver. Default: 2s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// Weight of every discovered backend; not allowed with SRV.
	// Default: 1.
	Weight int `json:"weight,omitempty"`
}
