package yamladapter

import (
	"fmt"
	"net"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// Defaults the warnings compare against; they are the documented
// defaults of the config package's fields.
const (
	defaultInterval = caddy.Duration(30 * time.Second)
	defaultTimeout  = caddy.Duration(30 * time.Second)
)

// warnings lists what is valid but probably not what the user meant, for
// a file that passed validation:
//
//   - health_check.timeout longer than half the interval (the default 30s
//     when unset): a slow check runs into the next one;
//   - circuit_breaker.latency_threshold at or above the section's timeout
//     (inherited, or the default 30s): requests time out before they are
//     that slow, so the latency rule never trips;
//   - cache.ttl longer than cache.max_ttl: the cap wins, the ttl is moot;
//   - a cache with neither ttl nor max_size: only responses that carry
//     their own freshness (Cache-Control max-age, Expires) are stored;
//   - no backends at the top level and no routes: the proxy has nothing
//     to forward to;
//   - an admin endpoint on a non-loopback address: anyone who reaches it
//     can replace the config.
func (w *walker) warnings(f *proxyFile) []caddyconfig.Warning {
	var out []caddyconfig.Warning
	warn := func(path, format string, args ...any) {
		n := w.nodeFor(path)
		out = append(out, caddyconfig.Warning{
			File: w.file, Line: n.Line, Directive: display(path),
			Message: fmt.Sprintf(format, args...),
		})
	}
	cfg := &f.cfg
	w.sectionWarnings(warn, "", cfg.Section, cfg.Timeout)
	for i, r := range cfg.Routes {
		timeout := r.Timeout
		if timeout == 0 {
			timeout = cfg.Timeout
		}
		w.sectionWarnings(warn, index("routes", i)+".", r.Section, timeout)
	}
	if len(cfg.Backends) == 0 && len(cfg.Routes) == 0 {
		warn("backends", "no backends and no routes: the proxy has nothing to forward to")
	}
	if f.admin != nil && f.admin.Listen != "" && !loopback(f.admin.Listen) {
		warn("admin", "admin endpoint %q is not on a loopback address: anyone who can reach it can replace the config", f.admin.Listen)
	}
	return out
}

func (w *walker) sectionWarnings(warn func(string, string, ...any), p string, s config.Section, timeout caddy.Duration) {
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

// display spells a handler path the way the YAML file does.
func display(path string) string {
	if path == "timeout" {
		return "server.timeout"
	}
	return path
}

// loopback reports whether an admin listen address stays on this machine:
// a Unix socket, localhost, or a loopback IP.
func loopback(addr string) bool {
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil {
		return false
	}
	if na.IsUnixNetwork() {
		return true
	}
	if na.Host == "localhost" {
		return true
	}
	ip := net.ParseIP(na.Host)
	return ip != nil && ip.IsLoopback()
}
