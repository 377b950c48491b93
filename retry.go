package smartproxy

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/forward"
	"github.com/caddy-smartproxy/smartproxy/h1"
)

// Retry defaults.
const (
	defaultRetryBudget  = 0.2
	defaultMaxReplay    = 64 << 10
	minRetryConcurrency = 3 // retries always allowed in flight, whatever the budget
)

// retryPolicy is a route's retry settings and its retry budget counters.
type retryPolicy struct {
	count     int
	backoff   time.Duration
	budget    float64
	maxReplay int64

	active   atomic.Int64 // requests being proxied on the route
	retrying atomic.Int64 // of those, requests on a retry
}

func newRetryPolicy(rc *config.Retries) *retryPolicy {
	p := &retryPolicy{count: defaultRetries, budget: defaultRetryBudget, maxReplay: defaultMaxReplay}
	if rc == nil {
		return p
	}
	if rc.Count != nil {
		p.count = *rc.Count
	}
	p.backoff = time.Duration(rc.Backoff)
	if rc.Budget > 0 {
		p.budget = rc.Budget
	}
	if rc.MaxBodyBytes > 0 {
		p.maxReplay = rc.MaxBodyBytes
	}
	return p
}

// admitRetry takes a place in the retry budget: retries in flight may be at
// most budget x requests in flight (and always minRetryConcurrency), so a
// fleet-wide outage does not multiply the load on what is left.
func (p *retryPolicy) admitRetry() bool {
	limit := int64(p.budget * float64(p.active.Load()))
	if limit < minRetryConcurrency {
		limit = minRetryConcurrency
	}
	if p.retrying.Add(1) > limit {
		p.retrying.Add(-1)
		return false
	}
	return true
}

// wait sleeps before retry n (1-based): backoff x 2^(n-1), with jitter in
// [d/2, d]; false if the client went away meanwhile.
func (p *retryPolicy) wait(r *http.Request, n int) bool {
	if p.backoff <= 0 {
		return true
	}
	d := p.backoff << (n - 1)
	if d <= 0 || d > 10*time.Second {
		d = 10 * time.Second
	}
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// nothingSent reports whether a failed try never reached a backend (a dial
// error, or a breaker that refused it), so it may be repeated elsewhere
// whatever the request.
func nothingSent(err error) bool {
	var de reverseproxy.DialError
	var hde h1.DialError
	return errors.As(err, &de) || errors.As(err, &hde) || errors.Is(err, errBreakerRefused)
}

// retryStatus reports the answers an idempotent request is retried on.
func retryStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable ||
		code == http.StatusGatewayTimeout
}

// maxReplayTotal bounds the memory all replay buffers hold together.
const maxReplayTotal = 64 << 20

// replayHeld is the byte budget of the replay buffers held by requests in
// flight, in all configs.
var replayHeld = forward.NewReplayBudget(maxReplayTotal)
