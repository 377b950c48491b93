package smartproxy

import (
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/caddy-smartproxy/smartproxy/breaker"
	"github.com/caddy-smartproxy/smartproxy/config"
)

func init() {
	caddy.RegisterModule(CaddyBreaker{})
}

// CaddyBreaker offers smartproxy's circuit breaker (closed, open and
// half-open states, exponential backoff with jitter, ratio and latency
// trips) to Caddy's stock reverse_proxy, as the module
// http.reverse_proxy.circuit_breakers.smartproxy:
//
//	{
//	  "handler": "reverse_proxy",
//	  "upstreams": [{"dial": "10.0.0.1:80"}, {"dial": "10.0.0.2:80"}],
//	  "circuit_breaker": {"type": "smartproxy", "failure_threshold": 5, "base_backoff": "1s"}
//	}
//
// Its fields are those of smartproxy's circuit_breaker section, plus
// probe_timeout. What it can count is limited by Caddy's interface:
// reverse_proxy calls RecordMetric only for a response that arrived, so a
// response with a 5xx status (or slower than latency_threshold) is the only
// failure it ever sees. Dial errors, resets and timeouts never reach it
// (count those with reverse_proxy's passive health checks, fail_duration
// and max_fails); the smartproxy handler's own breakers count them all.
// reverse_proxy also gives one breaker instance to all of its upstreams,
// so there it trips for the handler as a whole; the smartproxy handler
// keeps one breaker per backend.
//
// Half-open: reverse_proxy asks OK() of every upstream it considers for a
// request and says nothing when a request it admitted fails without a
// response, so a probe cannot be tied to its outcome. OK() therefore hands
// out at most half_open_requests probe grants at a time; a response
// returns one, and a grant no response returns lapses after probe_timeout.
// A request that asks OK() of several upstreams may use several grants, so
// fewer probes than half_open_requests may run, never more.
type CaddyBreaker struct {
	config.CircuitBreaker
	// ProbeTimeout is how long a half-open probe grant is held for a
	// response before it lapses and another request may probe (a probe
	// that failed without a response is never reported). Default: 10s.
	ProbeTimeout caddy.Duration `json:"probe_timeout,omitempty"`

	b     *breaker.Breaker
	now   func() time.Time
	gate  *probeGate
	limit int // probe grants at a time
}

// DefaultProbeTimeout is CaddyBreaker.ProbeTimeout's default.
const DefaultProbeTimeout = 10 * time.Second

// CaddyModule returns the Caddy module information.
func (CaddyBreaker) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.circuit_breakers.smartproxy",
		New: func() caddy.Module { return new(CaddyBreaker) },
	}
}

// Provision validates the settings and makes the breaker.
func (c *CaddyBreaker) Provision(ctx caddy.Context) error {
	logger := ctx.Logger()
	return c.setup(time.Now, func(from, to breaker.State, reason string) {
		logger.Info("circuit breaker changed state", zap.String("module", "circuit_breakers.smartproxy"),
			zap.Stringer("from", from), zap.Stringer("to", to), zap.String("reason", reason))
	})
}

// setup validates the settings and makes the breaker on the clock now.
func (c *CaddyBreaker) setup(now func() time.Time, onChange func(from, to breaker.State, reason string)) error {
	wrapped := config.Config{Section: config.Section{CircuitBreaker: &c.CircuitBreaker}}
	if err := wrapped.Validate(); err != nil {
		return err
	}
	if c.ProbeTimeout < 0 {
		return fmt.Errorf("circuit_breaker.probe_timeout: %v: must not be negative", time.Duration(c.ProbeTimeout))
	}
	if c.ProbeTimeout == 0 {
		c.ProbeTimeout = caddy.Duration(DefaultProbeTimeout)
	}
	s := c.Settings()
	s.Now = now
	s.OnStateChange = onChange
	b, err := breaker.New(s)
	if err != nil {
		return fmt.Errorf("making circuit breaker: %w", err)
	}
	c.b, c.now, c.gate = b, now, new(probeGate)
	c.limit = c.HalfOpenRequests
	if c.limit <= 0 {
		c.limit = breaker.DefaultHalfOpenRequests
	}
	return nil
}

// OK reports whether the breaker admits a request now: closed yes, open
// no, half-open only while a probe grant is free (and it takes one).
func (c *CaddyBreaker) OK() bool {
	switch c.b.State() { // moves an expired open breaker to half-open
	case breaker.Closed:
		return true
	case breaker.HalfOpen:
		return c.gate.take(c.now(), c.b.Trips(), c.limit, time.Duration(c.ProbeTimeout))
	}
	return false
}

// RecordMetric records one response: a 5xx is a failure. reverse_proxy
// reports after the fact, so the admission and the outcome are recorded
// together; a half-open probe's grant is returned.
func (c *CaddyBreaker) RecordMetric(statusCode int, latency time.Duration) {
	if d, err := c.b.Allow(); err == nil {
		d.Report(statusCode < 500, latency)
	}
	c.gate.give()
}

// probeGate counts the probe grants of one half-open period.
type probeGate struct {
	mu     sync.Mutex
	period uint64      // the breaker's trip count when the grants were given
	out    []time.Time // when each outstanding grant was given, oldest first
}

// take gives a grant if fewer than limit are out; grants older than
// timeout and those of an earlier half-open period (trips differs) lapse.
func (g *probeGate) take(now time.Time, trips uint64, limit int, timeout time.Duration) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.period != trips {
		g.period, g.out = trips, g.out[:0]
	}
	n := 0
	for n < len(g.out) && now.Sub(g.out[n]) >= timeout {
		n++
	}
	g.out = append(g.out[:0], g.out[n:]...)
	if len(g.out) >= limit {
		return false
	}
	g.out = append(g.out, now)
	return true
}

// give returns the oldest outstanding grant, if any.
func (g *probeGate) give() {
	g.mu.Lock()
	if len(g.out) > 0 {
		g.out = append(g.out[:0], g.out[1:]...)
	}
	g.mu.Unlock()
}

// Interface guards
var (
	_ caddy.Provisioner           = (*CaddyBreaker)(nil)
	_ reverseproxy.CircuitBreaker = (*CaddyBreaker)(nil)
)
