package config

import (
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Warning is something valid but probably not what the user meant, at one
// key. Path is spelled as in Error; Message says what happens and why.
type Warning struct {
	Path    string
	Message string
}

// Defaults the warnings compare against: the documented defaults of
// HealthCheck.Interval and Section.Timeout.
const (
	defaultInterval = caddy.Duration(30 * time.Second)
	defaultTimeout  = caddy.Duration(30 * time.Second)
)

// Warnings lists what is valid but suspicious in a config that passed
// Validate, for every front end to report (the yaml adapter with the line,
// the handler in its provision log):
//
//   - weights that differ under an algorithm that ignores them
//     (round_robin): the message names the algorithms that use them;
//   - health_check.timeout longer than half the interval (the default 30s
//     when unset): a slow check runs into the next one;
//   - circuit_breaker.latency_threshold at or above the section's timeout
//     (inherited, or the default 30s): requests time out before they are
//     that slow, so the latency rule never trips;
//   - cache.ttl longer than cache.max_ttl: the cap wins, the ttl is moot;
//   - a cache with neither ttl nor max_size: only responses that carry
//     their own freshness (Cache-Control max-age, Expires) are stored;
//   - a load_balancer.queue where no backend has a cap (max_requests):
//     nothing ever waits in it;
//   - no backends at the top level and no routes: nothing to forward to.
func (c *Config) Warnings() []Warning {
	var out []Warning
	warn := func(path, format string, args ...any) {
		out = append(out, Warning{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	weightWarning(warn, "", c.Section)
	queueWarning(warn, "", c.Section, c.Section)
	c.Section.warnings(warn, "", c.EffectiveTimeouts().ResponseHeader)
	for i, r := range c.Routes {
		p := "routes[" + strconv.Itoa(i) + "]."
		eff := c.Route(i)
		if len(r.Backends) > 0 || r.LoadBalancer != nil {
			weightWarning(warn, p, eff) // else the top level's warning covers it
		}
		queueWarning(warn, p, r.Section, eff)
		r.Section.warnings(warn, p, eff.EffectiveTimeouts().ResponseHeader)
	}
	if len(c.Backends) == 0 && len(c.Routes) == 0 {
		warn("backends", "no backends and no routes: the proxy has nothing to forward to")
	}
	return out
}

// warnings adds the section's own warnings; timeout is the one in effect
// (inherited when the section leaves it unset).
func (s Section) warnings(warn func(string, string, ...any), p string, timeout caddy.Duration) {
	if h := s.HealthCheck; h != nil && h.Timeout > 0 {
		interval, which := h.Interval, "interval"
		if interval == 0 {
			interval, which = defaultInterval, "the default interval"
		}
		if h.Timeout > interval/2 {
			warn(p+"health_check.timeout", "%s is more than half of %s %s: a slow check runs into the next one",
				fmtDuration(h.Timeout), which, fmtDuration(interval))
		}
	}
	if b := s.CircuitBreaker; b != nil && b.LatencyThreshold > 0 {
		if timeout == 0 {
			timeout = defaultTimeout
		}
		if b.LatencyThreshold >= timeout {
			warn(p+"circuit_breaker.latency_threshold", "%s is not below the timeout %s: requests time out before they are that slow, so this never trips",
				fmtDuration(b.LatencyThreshold), fmtDuration(timeout))
		}
	}
	if c := s.Cache; c != nil {
		if c.MaxTTL > 0 && c.TTL > c.MaxTTL {
			warn(p+"cache.ttl", "%s is longer than max_ttl %s, which caps it", fmtDuration(c.TTL), fmtDuration(c.MaxTTL))
		}
		if c.TTL == 0 && c.MaxSize == 0 {
			warn(p+"cache", "neither ttl nor max_size set: only responses with their own freshness (Cache-Control max-age, Expires) are stored, at most 1000")
		}
	}
}

// weightBlind lists the algorithms that give every available backend the
// same share whatever its weight (a weight of 0 still drains a backend).
var weightBlind = map[string]bool{"round_robin": true}

// weightWarning warns when the backends' weights differ under an
// algorithm that ignores them.
func weightWarning(warn func(string, string, ...any), p string, s Section) {
	a := s.LoadBalancer.AlgorithmOrDefault()
	if !weightBlind[a] {
		return
	}
	first := -1
	for i, b := range s.Backends {
		w := b.WeightOrDefault()
		if w == 0 {
			continue
		}
		if first < 0 {
			first = i
			continue
		}
		if w != s.Backends[first].WeightOrDefault() {
			at := p + "backends[" + strconv.Itoa(i) + "].weight"
			if s.Backends[i].Weight == nil {
				at = p + "backends[" + strconv.Itoa(first) + "].weight"
			}
			warn(at, "weights differ (%d and %d) but algorithm %s ignores them and gives every backend the same share; "+
				"weighted_round_robin, random, p2c, least_connections, least_latency and the hash algorithms use them",
				s.Backends[first].WeightOrDefault(), w, a)
			return
		}
	}
}

// fmtDuration prints a duration for a message the way users write it.
func fmtDuration(d caddy.Duration) string { return time.Duration(d).String() }

// queueWarning warns of a queue in a section whose backends have no cap.
// own is the section as written: a route is warned about only when it
// sets the queue or the backends itself (else the top level's warning
// covers it).
func queueWarning(warn func(string, string, ...any), p string, own, eff Section) {
	if eff.LoadBalancer == nil || eff.LoadBalancer.Queue == nil || eff.Capped() || len(eff.Backends) == 0 {
		return
	}
	if own.LoadBalancer == nil && len(own.Backends) == 0 && p != "" {
		return
	}
	warn(p+"load_balancer.queue", "no backend has max_requests (nor load_balancer.max_requests): no request ever waits in the queue")
}
