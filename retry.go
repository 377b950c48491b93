package smartproxy

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-smartproxy/smartproxy/backend"
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
	onStatus  statusSet
	methods   []string // nil: the idempotent methods (forward.Idempotent)

	active   atomic.Int64 // requests being proxied on the route
	retrying atomic.Int64 // of those, requests on a retry
}

func newRetryPolicy(rc *config.Retries) *retryPolicy {
	p := &retryPolicy{count: defaultRetries, budget: defaultRetryBudget, maxReplay: defaultMaxReplay,
		onStatus: defaultRetryStatuses}
	if rc == nil {
		return p
	}
	if len(rc.OnStatus) > 0 {
		p.onStatus = newStatusSet(rc.OnStatus)
	}
	p.methods = rc.Methods
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

// verdict is what a try's outcome allows.
type verdict int

const (
	final     verdict = iota // the outcome stands
	moveOn                   // nothing was sent (a breaker refused): another backend, free
	retryable                // another backend, as a retry
)

// decide is the retry rule for one try's outcome, resp or err. A try that
// reached no backend (dial error, breaker refusal) moves on, for any
// request, free; a request that can be sent again (its method allows it,
// body replayable) is retried after a transport failure or an answer in
// on; a request at fault never is.
func decide(resp *http.Response, err error, replayable bool, on *statusSet) verdict {
	if err == nil {
		// Before errors.As, whose target escapes: an answered try, the
		// common case, allocates nothing here.
		if replayable && on.has(resp.StatusCode) {
			return retryable
		}
		return final
	}
	var ce *clientError
	switch {
	case errors.As(err, &ce):
		return final // another backend would fail it too
	case nothingSent(err), isCertError(err):
		return moveOn // nothing of the request was sent
	case replayable:
		return retryable
	}
	return final
}

// mayResend reports whether r may be sent again once it reached a
// backend: its method is among the policy's (by default the idempotent
// ones), or it carries an Idempotency-Key.
func (p *retryPolicy) mayResend(r *http.Request) bool {
	if p.methods == nil {
		return forward.Idempotent(r)
	}
	for _, m := range p.methods {
		if m == r.Method {
			return true
		}
	}
	return r.Header.Get("Idempotency-Key") != ""
}

// statusSet is a set of retried answers: 429 and 500-599.
type statusSet struct {
	on429 bool
	on5xx [100]bool
}

// defaultRetryStatuses are retries.on_status's default: 502, 503, 504.
var defaultRetryStatuses = newStatusSet([]int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout})

func newStatusSet(codes []int) statusSet {
	var s statusSet
	for _, c := range codes {
		switch {
		case c == http.StatusTooManyRequests:
			s.on429 = true
		case c >= 500 && c <= 599:
			s.on5xx[c-500] = true
		}
	}
	return s
}

func (s *statusSet) has(code int) bool {
	if code >= 500 && code <= 599 {
		return s.on5xx[code-500]
	}
	return code == http.StatusTooManyRequests && s.on429
}

// retryState is one request's retries: how many it made, its place in
// the route's retry budget, the backoff before each. done gives the place
// back.
type retryState struct {
	r          *http.Request
	rt         *route
	logger     *zap.Logger
	replayable bool // the request may be sent again (idempotent, body replayable)
	retries    int
	retrying   bool // holds a place in the route's retry budget
}

// again decides whether to try another backend after try t (the last of
// tried) and waits out the backoff. Retries are bounded by the route's
// count, its budget and maxTries, and by the backends left; a move past a
// try that reached no backend (a dial error, a breaker's refusal) is not
// a retry: nothing was sent, so it is neither counted nor delayed.
func (st *retryState) again(tried []*backend.Backend, t *try) bool {
	v := decide(t.resp, t.err, st.replayable, &st.rt.retry.onStatus)
	if v == final || len(tried) >= maxTries || st.r.Context().Err() != nil || !st.rt.pool.hasUntried(tried) {
		return false
	}
	if v == moveOn {
		return true
	}
	rp := st.rt.retry
	if st.retries >= rp.count {
		return false
	}
	if !st.retrying {
		if !rp.admitRetry() {
			st.rt.metrics.budget.Inc()
			if c := st.logger.Check(zapcore.DebugLevel, "retry budget exhausted"); c != nil {
				c.Write(zap.String("route", st.rt.name), zap.String("backend", tried[len(tried)-1].Name), zap.Error(t.err))
			}
			return false
		}
		st.retrying = true
	}
	st.retries++
	st.rt.metrics.retries.Inc()
	return rp.wait(st.r, st.retries)
}

// done gives back the request's place in the retry budget.
func (st *retryState) done() {
	if st.retrying {
		st.rt.retry.retrying.Add(-1)
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

// maxReplayTotal bounds the memory all replay buffers hold together.
const maxReplayTotal = 64 << 20

// replayHeld is the byte budget of the replay buffers held by requests in
// flight, in all configs.
var replayHeld = forward.NewReplayBudget(maxReplayTotal)
