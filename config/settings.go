package config

import (
	"time"

	"github.com/caddy-smartproxy/smartproxy/breaker"
	"github.com/caddy-smartproxy/smartproxy/cache"
	"github.com/caddy-smartproxy/smartproxy/ratelimit"
)

// The conversions from config sections to the libraries' settings live
// here, beside the validation, so the handler and the yaml adapter build and
// check exactly the same thing.

// Settings returns the rate limiter settings of the section.
func (r *RateLimit) Settings() ratelimit.Settings {
	return ratelimit.Settings{
		RequestsPerSecond: r.RequestsPerSecond,
		Burst:             r.Burst,
		MaxKeys:           r.MaxKeys,
		Global:            r.Global,
	}
}

// HeadersOn reports whether the RateLimit headers are sent (default true).
func (r *RateLimit) HeadersOn() bool { return r.Headers == nil || *r.Headers }

// Settings returns the response cache settings of the section.
func (c *Cache) Settings() cache.Settings {
	return cache.Settings{
		MaxSize:         c.MaxSize,
		MaxBytes:        c.MaxBytes,
		MaxEntryBytes:   c.MaxEntryBytes,
		TTL:             time.Duration(c.TTL),
		MaxTTL:          time.Duration(c.MaxTTL),
		StaleIfError:    time.Duration(c.StaleIfError),
		CoalesceTimeout: time.Duration(c.CoalesceTimeout),
		AllowSetCookie:  c.AllowSetCookie,
		IgnoreQuery:     c.IgnoreQuery,
	}
}

// Settings returns the circuit breaker settings of the section.
func (b *CircuitBreaker) Settings() breaker.Settings {
	return breaker.Settings{
		FailureThreshold: b.FailureThreshold,
		ErrorRatio:       b.ErrorRatio,
		Window:           time.Duration(b.Window),
		MinRequests:      b.MinRequests,
		LatencyThreshold: time.Duration(b.LatencyThreshold),
		LatencyQuantile:  b.LatencyQuantile,
		BaseBackoff:      time.Duration(b.BaseBackoff),
		MaxBackoff:       time.Duration(b.MaxBackoff),
		Jitter:           b.Jitter,
		HalfOpenRequests: b.HalfOpenRequests,
		SuccessThreshold: b.SuccessThreshold,
	}
}
