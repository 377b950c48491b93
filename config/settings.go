package config

import (
	"net/http"
	"time"

	"github.com/caddy-smartproxy/smartproxy/breaker"
	"github.com/caddy-smartproxy/smartproxy/cache"
	"github.com/caddy-smartproxy/smartproxy/discovery"
	"github.com/caddy-smartproxy/smartproxy/health"
	"github.com/caddy-smartproxy/smartproxy/ratelimit"
	"github.com/caddy-smartproxy/smartproxy/ratelimit/redisstore"
)

// The conversions from config sections to the libraries' settings, which
// Validate checks, so the handler and the front ends build and check exactly
// the same thing.

// Settings returns the rate limiter settings of the section.
func (r *RateLimit) Settings() ratelimit.Settings {
	return ratelimit.Settings{
		RequestsPerSecond: r.RequestsPerSecond,
		Burst:             r.Burst,
		MaxKeys:           r.MaxKeys,
		Global:            r.Global,
	}
}

// RedisSettings returns the shared store's settings of the section as far
// as the config alone decides them: placeholders in the address and
// credentials are not expanded, and the key prefix, TLS and the observer
// are the handler's to add. Call it only when r.Redis is set.
func (r *RateLimit) RedisSettings() redisstore.Settings {
	rs := r.Redis
	return redisstore.Settings{
		RequestsPerSecond: r.RequestsPerSecond,
		Burst:             r.Burst,
		Global:            r.Global,
		MaxKeys:           r.MaxKeys,
		Address:           rs.Address,
		Username:          rs.Username,
		Password:          rs.Password,
		DB:                rs.DB,
		KeyPrefix:         rs.KeyPrefix,
		DialTimeout:       time.Duration(rs.DialTimeout),
		ReadTimeout:       time.Duration(rs.Timeout),
		WriteTimeout:      time.Duration(rs.Timeout),
		LeaseSize:         rs.LeaseSize,
		FailurePolicy:     redisstore.FailurePolicy(rs.FailurePolicy),
	}
}

// HeadersOn reports whether the RateLimit headers are sent (default true).
func (r *RateLimit) HeadersOn() bool { return r.Headers == nil || *r.Headers }

// Settings returns the response cache settings of the section.
func (c *Cache) Settings() cache.Settings {
	var hf float64
	var hm time.Duration
	if c.Heuristic != nil {
		hf, hm = c.Heuristic.Fraction, time.Duration(c.Heuristic.Max)
	}
	return cache.Settings{
		MaxSize:           c.MaxSize,
		MaxBytes:          c.MaxBytes,
		MaxEntryBytes:     c.MaxEntryBytes,
		MaxVariants:       c.MaxVariants,
		TTL:               time.Duration(c.TTL),
		MaxTTL:            time.Duration(c.MaxTTL),
		StaleIfError:      time.Duration(c.StaleIfError),
		CoalesceTimeout:   time.Duration(c.CoalesceTimeout),
		AllowSetCookie:    c.AllowSetCookie,
		IgnoreQuery:       c.IgnoreQuery,
		TagHeaders:        c.TagHeaders,
		ExposeTags:        c.ExposeTags,
		Targets:           c.Targets,
		StripTargets:      c.StripTargets,
		HeuristicFraction: hf,
		HeuristicMax:      hm,

		StaleWhileRevalidate: time.Duration(c.StaleWhileRevalidate),
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

// Settings returns the health checker settings of the section.
func (h *HealthCheck) Settings() health.Settings {
	s := health.Settings{
		Interval:                 time.Duration(h.Interval),
		Timeout:                  time.Duration(h.Timeout),
		Path:                     h.Path,
		Method:                   h.Method,
		ExpectStatus:             h.ExpectStatus,
		ExpectBody:               h.ExpectBody,
		HealthyThreshold:         h.HealthyThreshold,
		UnhealthyThreshold:       h.UnhealthyThreshold,
		Jitter:                   h.Jitter,
		DisableActive:            h.Active != nil && !*h.Active,
		PassiveFailures:          h.PassiveFailures,
		PassiveUnhealthyStatuses: h.UnhealthyStatuses,
		PassiveCooldown:          time.Duration(h.PassiveCooldown),
		Type:                     h.Type,
		Service:                  h.Service,
	}
	if h.InitialState == "unhealthy" {
		s.InitialState = health.Unhealthy
	}
	if len(h.Headers) > 0 {
		s.Headers = make(http.Header, len(h.Headers))
		for k, v := range h.Headers {
			s.Headers.Set(k, v)
		}
	}
	return s
}

// Settings returns the discovery library's config of the section; the
// handler adds nothing to it.
func (d *DNSDiscovery) Settings() discovery.Config {
	return discovery.Config{
		Name:      d.Name,
		Type:      d.Type,
		Port:      d.Port,
		Scheme:    d.Scheme,
		Refresh:   time.Duration(d.Refresh),
		Resolvers: d.Resolvers,
		Timeout:   time.Duration(d.Timeout),
		Weight:    d.Weight,
	}
}
