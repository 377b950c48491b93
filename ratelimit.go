package smartproxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
	"unsafe"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/ratelimit"
	"github.com/caddy-smartproxy/smartproxy/ratelimit/redisstore"
	"go.uber.org/zap"
)

// limiters keeps rate limiters across config reloads: a route whose limit
// is unchanged keeps its buckets, so a reload does not hand every client a
// fresh burst.
var limiters = newShared[*ratelimit.Limiter]("ratelimit", nil)

// routeLimiter applies a route's rate limit to requests.
type routeLimiter struct {
	buckets buckets
	key     string // placeholder expression; "" = the client IP Caddy resolved
	onEmpty string // key_fallback (config.Fallback*): keys a request whose key has an empty placeholder
	v6bits  int    // with the default key: the prefix IPv6 clients are keyed by (0 = 64)
	headers bool
	policy  string // the RateLimit-Policy header value, built once
	allowed prometheus.Counter
	limited prometheus.Counter
	rps     float64
	burst   int
}

// bucketSettings are what a route's buckets depend on: the key expression
// and headers do not change what a bucket holds; the IPv6 prefix changes
// which clients share one.
type bucketSettings struct {
	RPS        float64
	Burst      int
	MaxKeys    int
	Global     bool
	IPv6Prefix int
}

// newRouteLimiter gets the route's limiter from the shared pool (or makes
// it), held by hs.
func newRouteLimiter(hs *holds, routeName string, rc *config.RateLimit, rm routeMetrics, logger *zap.Logger) (*routeLimiter, error) {
	s := rc.Settings()
	var b buckets
	if rc.StoreOrDefault() == "redis" {
		st, err := newSharedStore(hs, routeName, rc, logger)
		if err != nil {
			return nil, fmt.Errorf("rate_limit.redis: %w", err)
		}
		b = redisBuckets{st}
	} else {
		k := stateKey{route: routeName, settings: bucketSettings{s.RequestsPerSecond, s.Burst, s.MaxKeys, s.Global, rc.IPv6Prefix}}
		l, err := limiters.acquire(hs, k, func() (*ratelimit.Limiter, error) { return ratelimit.New(s) })
		if err != nil {
			return nil, fmt.Errorf("rate_limit: %w", err)
		}
		b = localBuckets{l}
	}
	return &routeLimiter{
		buckets: b,
		key:     rc.Key,
		onEmpty: rc.FallbackOrDefault(),
		v6bits:  rc.IPv6Prefix,
		headers: rc.HeadersOn(),
		policy:  s.PolicyHeader(),
		allowed: rm.allowed,
		limited: rm.limited,
		rps:     s.RequestsPerSecond,
		burst:   s.Burst,
	}, nil
}

// buckets is where a route's token buckets live: in this process
// (localBuckets) or in Redis, shared by every proxy instance
// (redisBuckets).
type buckets interface {
	// take takes a token for key. An error means no decision could be
	// made (redisstore.ErrUnavailable under fail_closed, or ctx ended);
	// the Decision then still carries a Retry-After.
	take(ctx context.Context, key string) (ratelimit.Decision, error)
	// stats are the store's figures for the status API and metrics.
	stats() bucketStats
}

// bucketStats are a bucket store's figures.
type bucketStats struct {
	store       string // "local" or "redis"
	shared      bool   // redis: degraded and transitions apply, evictions do not
	keys        int
	evictions   uint64 // buckets evicted to stay within max_keys (local)
	degraded    bool   // Redis unreachable: the failure policy applies
	transitions uint64 // times Redis became unreachable or reachable again
}

// localBuckets are buckets in this process, kept across reloads.
type localBuckets struct{ l *ratelimit.Limiter }

func (b localBuckets) take(_ context.Context, key string) (ratelimit.Decision, error) {
	return b.l.Allow(key, time.Now()), nil
}

func (b localBuckets) stats() bucketStats {
	return bucketStats{store: "local", keys: b.l.Keys(), evictions: b.l.Evictions()}
}

// redisBuckets are buckets in Redis.
type redisBuckets struct{ s *redisstore.Store }

func (b redisBuckets) take(ctx context.Context, key string) (ratelimit.Decision, error) {
	return b.s.Allow(ctx, key)
}

func (b redisBuckets) stats() bucketStats {
	return bucketStats{store: "redis", shared: true, keys: b.s.Keys(), degraded: b.s.Degraded(), transitions: b.s.Transitions()}
}

// errRateLimited is the cause of a 429.
var errRateLimited = fmt.Errorf("rate limit exceeded")

// errNoLimitKey is the cause of a 400 under key_fallback refuse.
var errNoLimitKey = errors.New("the rate limit key is empty for this request (key_fallback refuse)")

// allow takes a token for r's key. It sets the RateLimit headers (unless
// turned off) and, when the request is refused, Retry-After, and returns a
// 429 caddyhttp.Error so handle_errors can restyle the answer.
func (l *routeLimiter) allow(w http.ResponseWriter, r *http.Request) error {
	var key string
	if l.key == "" {
		// One key per IPv4 address and per IPv6 network (a /64 by
		// default), IPv4-mapped addresses unmapped; no allocation for IPv4.
		ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
		key = ratelimit.ClientKey(ip, l.v6bits)
	} else if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		var err error
		if key, err = repl.ReplaceOrErr(l.key, true, true); err != nil {
			// A placeholder of the key is empty (a header the request
			// lacks): rate_limit.key_fallback decides, rather than one
			// bucket for every such request. Fallback keys start with a
			// NUL, which a header value cannot hold, so a client cannot
			// name another's fallback bucket through a header.
			switch l.onEmpty {
			case config.FallbackRefuse:
				return caddyhttp.Error(http.StatusBadRequest, errNoLimitKey)
			case config.FallbackShared:
				key = "\x00shared"
			default:
				ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
				key = "\x00" + ratelimit.ClientKey(ip, 0)
			}
		}
	}
	d, err := l.buckets.take(r.Context(), key)
	if err != nil {
		if errors.Is(err, redisstore.ErrUnavailable) {
			// fail_closed and Redis is unreachable.
			var buf [24]byte
			w.Header()["Retry-After"] = []string{string(d.AppendRetryAfter(buf[:0]))}
			return caddyhttp.Error(http.StatusServiceUnavailable, err)
		}
		return caddyhttp.Error(statusClientClosed, err) // the client gave up while waiting
	}
	hdr := w.Header()
	if l.headers {
		setRateLimitFields(hdr, l.policy, d)
	}
	if d.Allowed {
		l.allowed.Inc()
		return nil
	}
	l.limited.Inc()
	var buf [24]byte
	hdr["Retry-After"] = []string{string(d.AppendRetryAfter(buf[:0]))}
	return caddyhttp.Error(http.StatusTooManyRequests, errRateLimited)
}

// rateLimitFields holds one response's RateLimit-Policy and RateLimit
// values, and the bytes of the latter, in one allocation.
type rateLimitFields struct {
	vals [2]string
	buf  [64]byte
}

// setRateLimitFields sets the two RateLimit fields for d. Each response gets
// value slices of its own: Caddy's header replace rewrites a field's values
// in place, so a slice shared between responses would carry one response's
// rewrite into every later one (TestRateLimitHeadersAreEachResponsesOwn).
// The policy string itself is shared; strings are immutable.
func setRateLimitFields(hdr http.Header, policy string, d ratelimit.Decision) {
	f := new(rateLimitFields)
	b := d.AppendHeader(f.buf[:0])
	f.vals[0] = policy
	if len(b) <= len(f.buf) { // never empty: `"default";r=…`
		f.vals[1] = unsafe.String(&f.buf[0], len(b)) // f.buf is not written again
	} else {
		f.vals[1] = string(b) // a value that outgrew the buffer
	}
	hdr["Ratelimit-Policy"] = f.vals[0:1:1]
	hdr["Ratelimit"] = f.vals[1:2:2]
}

// sharedStores keeps Redis-backed stores (and their connection pools)
// across reloads: a reload with the same settings reuses the client, so
// reloads do not leak or churn connections. The last config to let go of
// one closes it.
var sharedStores = newShared("redis", (*redisstore.Store).Close)

// newSharedStore gets the route's Redis store from the pool or makes it.
func newSharedStore(hs *holds, routeName string, rc *config.RateLimit, logger *zap.Logger) (*redisstore.Store, error) {
	rs := rc.Redis
	repl := caddy.NewReplacer() // {env.*} and other global placeholders
	prefix := rs.KeyPrefix
	if prefix == "" {
		prefix = redisstore.DefaultKeyPrefix
	}
	s := redisstore.Settings{
		RequestsPerSecond: rc.RequestsPerSecond,
		Burst:             rc.Burst,
		Global:            rc.Global,
		MaxKeys:           rc.MaxKeys,
		Address:           repl.ReplaceAll(rs.Address, ""),
		Username:          repl.ReplaceAll(rs.Username, ""),
		Password:          repl.ReplaceAll(rs.Password, ""),
		DB:                rs.DB,
		KeyPrefix:         prefix + routeName + ":",
		DialTimeout:       time.Duration(rs.DialTimeout),
		ReadTimeout:       time.Duration(rs.Timeout),
		WriteTimeout:      time.Duration(rs.Timeout),
		LeaseSize:         rs.LeaseSize,
		FailurePolicy:     redisstore.FailurePolicy(rs.FailurePolicy),
	}
	tc, err := redisTLS(rs.TLS)
	if err != nil {
		return nil, err
	}
	s.TLS = tc
	if err := s.Validate(); err != nil {
		return nil, err
	}
	logRedisTo(hs, logger, s.Password) // go-redis's own messages (redislog.go)
	// The pool key is the whole configuration, secrets included (it is
	// never shown anywhere).
	return sharedStores.acquire(hs, stateKey{route: routeName, settings: rc}, func() (*redisstore.Store, error) {
		logger := logger.With(zap.String("route", routeName), zap.String("redis", s.Address))
		s.OnStateChange = func(degraded bool, err error) {
			if degraded {
				logger.Warn("shared rate-limit store unavailable; applying failure policy",
					zap.String("failure_policy", string(s.FailurePolicy)), zap.Error(err))
			} else {
				logger.Info("shared rate-limit store reachable again; limits are shared")
			}
		}
		return redisstore.New(s)
	})
}

// redisTLS is the TLS configuration a redis block's tls section asks for
// (nil for plain TCP), shared by the rate limit's store and the shared
// cache tier.
func redisTLS(rt *config.RedisTLS) (*tls.Config, error) {
	if rt == nil {
		return nil, nil
	}
	tc := &tls.Config{ServerName: rt.ServerName, InsecureSkipVerify: rt.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if rt.CAFile != "" {
		pem, err := os.ReadFile(rt.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificates", rt.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
