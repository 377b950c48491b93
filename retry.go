package smartproxy

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-smartproxy/smartproxy/h1"

	"github.com/caddy-smartproxy/smartproxy/config"
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

// idempotent reports whether r may be sent twice: RFC 9110's idempotent
// methods, or any request with an Idempotency-Key.
func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get("Idempotency-Key") != ""
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

// replayBody makes out's body replayable when r is retryable and its body
// small enough: it is read into memory (at most maxReplay bytes) and each
// try gets a fresh reader over it. A larger body streams as usual and the
// request is not retried once sent. The returned func resets the body for
// another try; nil when the body cannot be replayed.
//
// All requests together hold at most maxReplayTotal bytes of replay
// buffers (held counts what this one holds, to be given back with
// replayHeld.give when the request is done); past that, a request is simply
// not replayable, so concurrent large uploads cannot exhaust memory.
func replayBody(out *http.Request, r *http.Request, maxReplay int64) (reset func(), held int64, err error) {
	if out.Body == nil {
		return func() {}, 0, nil
	}
	if r.ContentLength > maxReplay {
		return nil, 0, nil
	}
	held = maxReplay + 1
	if r.ContentLength >= 0 {
		held = r.ContentLength
	}
	if !replayHeld.take(held) {
		return nil, 0, nil
	}
	var buf []byte
	if r.ContentLength >= 0 {
		// Known length (Caddy's server enforces it): one exact buffer,
		// no growth garbage.
		buf = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, buf)
	} else {
		buf, err = io.ReadAll(io.LimitReader(r.Body, maxReplay+1))
	}
	if err != nil {
		return nil, held, err
	}
	if n := int64(cap(buf)); n != held {
		replayHeld.give(held - n)
		held = n
	}
	if cb, ok := out.Body.(*clientBody); ok && cb.trailerOut != nil {
		for k := range cb.trailerOut {
			cb.trailerOut[k] = cb.trailerIn[k]
		}
	}
	if int64(len(buf)) > maxReplay {
		// Too large after all (no Content-Length): stitch the part read
		// back in front of the rest and stream it.
		cb := out.Body.(*clientBody)
		cb.r = io.MultiReader(bytes.NewReader(buf), cb.r)
		return nil, held, nil
	}
	// GetBody lets the transport resend the body on a fresh connection
	// when a pooled one turns out to be stale.
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	reset = func() {
		out.Body = io.NopCloser(bytes.NewReader(buf))
		out.ContentLength = int64(len(buf))
	}
	reset()
	return reset, held, nil
}

// maxReplayTotal bounds the memory all replay buffers hold together.
const maxReplayTotal = 64 << 20

// replayHeld counts the bytes of replay buffers held by requests in flight.
var replayHeld replayBudget

// replayBudget is a byte budget taken and given back atomically.
type replayBudget struct{ held atomic.Int64 }

// take reserves n bytes, or reports false when that would pass
// maxReplayTotal.
func (b *replayBudget) take(n int64) bool {
	if b.held.Add(n) > maxReplayTotal {
		b.held.Add(-n)
		return false
	}
	return true
}

// give returns n bytes to the budget.
func (b *replayBudget) give(n int64) { b.held.Add(-n) }
