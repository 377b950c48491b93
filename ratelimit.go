package smartproxy

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/ratelimit"
)

// limiters keeps rate limiters across config reloads: a route whose limit
// is unchanged keeps its buckets, so a reload does not hand every client a
// fresh burst.
var limiters = caddy.NewUsagePool()

type pooledLimiter struct{ *ratelimit.Limiter }

func (pooledLimiter) Destruct() error { return nil }

// routeLimiter applies a route's rate limit to requests.
type routeLimiter struct {
	lim     *ratelimit.Limiter
	key     string // placeholder expression; "" = the client IP Caddy resolved
	headers bool
	policy  []string // the RateLimit-Policy header value, built once
	allowed prometheus.Counter
	limited prometheus.Counter
	rps     float64
	burst   int
}

// newRouteLimiter gets the route's limiter from the pool (or makes it) and
// returns the pool key to release in Cleanup.
func newRouteLimiter(routeName string, rc *config.RateLimit, rm routeMetrics) (*routeLimiter, string, error) {
	s := rc.Settings()
	// The buckets depend on these settings only (key and headers do not
	// change what a bucket holds).
	poolKey := fmt.Sprintf("ratelimit|%s|%v|%d|%d|%t", routeName, s.RequestsPerSecond, s.Burst, s.MaxKeys, s.Global)
	v, _, err := limiters.LoadOrNew(poolKey, func() (caddy.Destructor, error) {
		l, err := ratelimit.New(s)
		if err != nil {
			return nil, err
		}
		return pooledLimiter{l}, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("rate_limit: %w", err)
	}
	l := v.(pooledLimiter).Limiter
	return &routeLimiter{
		lim:     l,
		key:     rc.Key,
		headers: rc.HeadersOn(),
		policy:  []string{l.PolicyHeader()},
		allowed: rm.allowed,
		limited: rm.limited,
		rps:     s.RequestsPerSecond,
		burst:   s.Burst,
	}, poolKey, nil
}

// errRateLimited is the cause of a 429.
var errRateLimited = fmt.Errorf("rate limit exceeded")

// allow takes a token for r's key. It sets the RateLimit headers (unless
// turned off) and, when the request is refused, Retry-After, and returns a
// 429 caddyhttp.Error so handle_errors can restyle the answer.
func (l *routeLimiter) allow(w http.ResponseWriter, r *http.Request) error {
	var key string
	if l.key == "" {
		key, _ = caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	} else if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		key = repl.ReplaceAll(l.key, "")
	}
	d := l.lim.Allow(key, time.Now())
	hdr := w.Header()
	if l.headers {
		var buf [64]byte
		hdr["Ratelimit-Policy"] = l.policy
		hdr["Ratelimit"] = []string{string(d.AppendHeader(buf[:0]))}
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
