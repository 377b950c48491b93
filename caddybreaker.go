package smartproxy

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

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
// Its fields are those of smartproxy's circuit_breaker section. A response
// with a 5xx status counts as a failure. Note that reverse_proxy gives one
// breaker instance to all of its upstreams, so there it trips for the
// handler as a whole; the smartproxy handler keeps one breaker per backend.
type CaddyBreaker struct {
	config.CircuitBreaker
	b *breaker.Breaker
}

// CaddyModule returns the Caddy module information.
func (CaddyBreaker) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.circuit_breakers.smartproxy",
		New: func() caddy.Module { return new(CaddyBreaker) },
	}
}

// Provision validates the settings and makes the breaker.
func (c *CaddyBreaker) Provision(ctx caddy.Context) error {
	wrapped := config.Config{Section: config.Section{CircuitBreaker: &c.CircuitBreaker}}
	if err := wrapped.Validate(); err != nil {
		return err
	}
	logger := ctx.Logger()
	s := c.Settings()
	s.OnStateChange = func(from, to breaker.State, reason string) {
		logger.Info(fmt.Sprintf("circuit breaker %s -> %s: %s", from, to, reason))
	}
	b, err := breaker.New(s)
	if err != nil {
		return err
	}
	c.b = b
	return nil
}

// OK reports whether the breaker admits requests now.
func (c *CaddyBreaker) OK() bool { return c.b.Ready(time.Now()) }

// RecordMetric records one response: a 5xx is a failure. reverse_proxy
// reports after the fact, so the admission and the outcome are recorded
// together.
func (c *CaddyBreaker) RecordMetric(statusCode int, latency time.Duration) {
	if d, err := c.b.Allow(); err == nil {
		d.Report(statusCode < 500, latency)
	}
}

// Interface guards
var (
	_ caddy.Provisioner           = (*CaddyBreaker)(nil)
	_ reverseproxy.CircuitBreaker = (*CaddyBreaker)(nil)
)
