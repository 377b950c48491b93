package config

import (
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Sticky sessions and per-backend concurrency caps: load_balancer.sticky,
// load_balancer.max_requests with backends[].max_requests, and
// load_balancer.queue.

// Defaults of Sticky and Queue.
const (
	DefaultStickyCookie = "sp_route"
	DefaultQueueSize    = 1000
	DefaultQueueTimeout = 5 * time.Second
	// MinStickySecret is the least length of a configured secret, in
	// bytes, once its placeholders are expanded.
	MinStickySecret = 16
)

// Sticky pins a client to a backend by a cookie that the proxy sets on the
// first response: later requests that carry it go to the same backend while
// that backend is available (healthy, breaker closed, not drained or in
// maintenance, below its cap); otherwise they are balanced as usual and get
// a new cookie. The cookie's value is an HMAC of the route and the backend,
// so it does not reveal the backend's address, and a forged or stale value
// is simply balanced.
type Sticky struct {
	// Cookie is the cookie's name, an HTTP token. Default: sp_route.
	Cookie string `json:"cookie,omitempty"`

	// MaxAge is the cookie's lifetime in whole seconds (Max-Age); 0 makes
	// it a session cookie, which the browser drops when it closes.
	// Default: 0.
	MaxAge caddy.Duration `json:"max_age,omitempty"`

	// Secure marks the cookie Secure, so browsers send it over HTTPS only.
	// Default: set on responses to clients that connected over TLS.
	Secure *bool `json:"secure,omitempty"`

	// HTTPOnly hides the cookie from scripts. Default: true.
	HTTPOnly *bool `json:"http_only,omitempty"`

	// SameSite is the cookie's SameSite attribute: `lax`, `strict` or
	// `none` (which browsers accept only with Secure, so `none` needs
	// secure not set to false). Default: lax.
	SameSite string `json:"same_site,omitempty"`

	// Secret keys the cookie values' HMAC, at least 16 bytes; placeholders
	// such as {env.STICKY_SECRET} are expanded. Set it when several
	// instances serve one site, or when cookies must survive a restart.
	// Default: a random secret made when the route first starts and kept
	// across config reloads (not restarts).
	Secret string `json:"secret,omitempty"`
}

// CookieOrDefault returns the cookie's name, sp_route when unset.
func (s *Sticky) CookieOrDefault() string {
	if s.Cookie == "" {
		return DefaultStickyCookie
	}
	return s.Cookie
}

// HTTPOnlyOrDefault reports whether the cookie is HttpOnly (default true).
func (s *Sticky) HTTPOnlyOrDefault() bool { return s.HTTPOnly == nil || *s.HTTPOnly }

// Queue bounds the requests that wait for a backend below its cap.
type Queue struct {
	// Size is the most requests waiting at once in one route; one more
	// gets 503 with Retry-After. Default: 1000.
	Size int `json:"size,omitempty"`

	// Timeout bounds one request's wait; past it the request gets 503 with
	// Retry-After. Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

// SizeOrDefault returns the queue's size, 1000 when unset.
func (q *Queue) SizeOrDefault() int {
	if q.Size == 0 {
		return DefaultQueueSize
	}
	return q.Size
}

// TimeoutOrDefault returns the queue's timeout, 5s when unset.
func (q *Queue) TimeoutOrDefault() time.Duration {
	if q.Timeout == 0 {
		return DefaultQueueTimeout
	}
	return time.Duration(q.Timeout)
}

// MaxRequestsOf returns backend b's in-flight cap in a section whose load
// balancer is lb: its own, else lb's default; 0 means no cap.
func MaxRequestsOf(b Backend, lb *LoadBalancer) int {
	if b.MaxRequests > 0 {
		return b.MaxRequests
	}
	if lb != nil {
		return lb.MaxRequests
	}
	return 0
}

// Capped reports whether any backend of s has an in-flight cap, or s's
// default gives every backend (discovered ones too) one.
func (s *Section) Capped() bool {
	if s.LoadBalancer != nil && s.LoadBalancer.MaxRequests > 0 {
		return true
	}
	for _, b := range s.Backends {
		if b.MaxRequests > 0 {
			return true
		}
	}
	return false
}

func (s *Sticky) validate(p string) error {
	if s == nil {
		return nil
	}
	if s.Cookie != "" && !isToken(s.Cookie) {
		return errAt(p+".cookie", "%q: a cookie name must be an HTTP token (no spaces, separators or control characters)", s.Cookie)
	}
	if s.MaxAge < 0 {
		return errAt(p+".max_age", "%v: must not be negative", time.Duration(s.MaxAge))
	}
	if s.MaxAge > 0 && time.Duration(s.MaxAge) < time.Second {
		return errAt(p+".max_age", "%v: Max-Age counts whole seconds; use at least 1s, or 0 for a session cookie", time.Duration(s.MaxAge))
	}
	switch s.SameSite {
	case "", "lax", "strict":
	case "none":
		if s.Secure != nil && !*s.Secure {
			return errAt(p+".same_site", "%q: browsers refuse SameSite=None without Secure, and secure is false", s.SameSite)
		}
	default:
		return errAt(p+".same_site", "%q: must be lax, strict or none", s.SameSite)
	}
	if s.Secret != "" && !strings.Contains(s.Secret, "{") && len(s.Secret) < MinStickySecret {
		return errAt(p+".secret", "%d bytes: too short, use at least %d (random, such as `openssl rand -hex 16`)", len(s.Secret), MinStickySecret)
	}
	return nil
}

func (q *Queue) validate(p string) error {
	if q == nil {
		return nil
	}
	return firstErr(
		nonNegInt(p, "size", q.Size),
		nonNegDur(p, "timeout", time.Duration(q.Timeout)),
	)
}

// validateCaps checks the section's in-flight caps.
func (s *Section) validateCaps(p string) error {
	for i, b := range s.Backends {
		if err := nonNegInt(p+"backends["+strconv.Itoa(i)+"]", "max_requests", b.MaxRequests); err != nil {
			return err
		}
	}
	return nil
}

// checkStickyCache refuses a sticky cookie on a route whose cache stores
// responses with Set-Cookie: a stored cookie would pin every client served
// from the cache to one backend. own is the section as written (to place
// the error), eff the section with what it inherits.
func checkStickyCache(p string, own, eff Section) error {
	if eff.LoadBalancer == nil || eff.LoadBalancer.Sticky == nil || eff.Cache == nil || !eff.Cache.AllowSetCookie {
		return nil
	}
	key := p + "cache.allow_set_cookie"
	if own.Cache == nil && own.LoadBalancer != nil {
		key = p + "load_balancer.sticky"
	}
	return errAt(key, "a cache that stores Set-Cookie responses would hand one client's sticky cookie to every client: turn one of them off")
}
