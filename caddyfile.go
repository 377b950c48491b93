package smartproxy

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-smartproxy/smartproxy/config"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("smartproxy", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("smartproxy", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	sp := new(Handler)
	err := sp.UnmarshalCaddyfile(h.Dispenser)
	return sp, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	smartproxy [<upstreams...>] {
//	    to <upstreams...>
//	    weight <upstream> <weight>
//	    lb_policy <algorithm> [<hash_header>]
//	    slow_start <duration>
//	    panic_threshold <fraction>
//	    timeout <duration>
//	    retries <count>
//	    health_check [<path>] {
//	        interval <duration>
//	        timeout <duration>
//	        method <method>
//	        expect_status <code|class|range>
//	        expect_body <regexp>
//	        healthy_threshold <n>
//	        unhealthy_threshold <n>
//	        jitter <fraction>
//	        initial_state healthy|unhealthy
//	        headers <name> <value>
//	        passive_failures <n>
//	        unhealthy_statuses <codes...>
//	        passive_cooldown <duration>
//	    }
//	    circuit_breaker {
//	        failure_threshold <n>
//	        error_ratio <fraction>
//	        window <duration>
//	        min_requests <n>
//	        latency_threshold <duration>
//	        latency_quantile <fraction>
//	        base_backoff <duration>
//	        max_backoff <duration>
//	        jitter <fraction>
//	        half_open_requests <n>
//	        success_threshold <n>
//	    }
//	    rate_limit [<requests_per_second> [burst <n>]] {
//	        requests_per_second <rate>
//	        burst <n>
//	        key <placeholders>
//	        global
//	        max_keys <n>
//	        ipv6_prefix <bits>
//	        headers on|off
//	        store local|redis
//	        redis {
//	            address <host:port>
//	            username <name>
//	            password <secret, e.g. {env.REDIS_PASSWORD}>
//	            db <n>
//	            key_prefix <prefix>
//	            dial_timeout <duration>
//	            timeout <duration>
//	            lease_size <n>
//	            failure_policy fail_open|fail_closed
//	            tls {
//	                server_name <name>
//	                ca_file <path>
//	                insecure_skip_verify
//	            }
//	        }
//	    }
//	    cache {
//	        max_size <entries>
//	        max_bytes <bytes>
//	        max_entry_bytes <bytes>
//	        max_variants <n>
//	        ttl <duration>
//	        max_ttl <duration>
//	        stale_if_error <duration>
//	        coalesce_timeout <duration>
//	        allow_set_cookie
//	        ignore_query
//	    }
//	    route <host[/path]|/path> {
//	        # any of the subdirectives above except route
//	    }
//	}
//
// An upstream is a URL (`http://10.0.0.1:8080`, `https://api.internal`,
// `h2c://grpc:9000`) or a bare `host:port`, which means http. Weights
// default to 1; `weight <upstream> 0` drains an upstream. A `route` inherits
// every setting it does not give from the enclosing block. Inside the
// blocks of health_check, circuit_breaker, rate_limit and cache, each
// subdirective is the JSON key of the same name; a flag without a value
// (`global`, `allow_set_cookie`) means true.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	for _, u := range d.RemainingArgs() {
		h.Backends = append(h.Backends, config.Backend{URL: upstreamURL(u)})
	}
	var top upstreamIndex
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() == "route" {
			var r config.Route
			var idx upstreamIndex
			if !d.NextArg() {
				return d.ArgErr()
			}
			r.Host, r.Path = splitRouteMatch(d.Val())
			if d.NextArg() {
				return d.ArgErr()
			}
			for n := d.Nesting(); d.NextBlock(n); {
				if d.Val() == "route" {
					return d.Err("route blocks cannot be nested")
				}
				if err := parseSectionDirective(d, &r.Section, &idx); err != nil {
					return err
				}
			}
			h.Routes = append(h.Routes, r)
			continue
		}
		if err := parseSectionDirective(d, &h.Section, &top); err != nil {
			return err
		}
	}
	return nil
}

// upstreamURL turns a Caddyfile upstream into a URL: a bare host:port
// means http.
func upstreamURL(s string) string {
	if strings.Contains(s, "://") {
		return s
	}
	return "http://" + s
}

// splitRouteMatch splits `host/path`, `/path` or `host` into its parts.
func splitRouteMatch(s string) (host, path string) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// upstreamIndex finds a section's upstreams by URL for `weight`, so that
// each weight subdirective costs O(1) however many upstreams `to` listed
// (a scan per weight took 2.7 s for 20,000 upstreams). It indexes the
// upstreams appended since its last lookup.
type upstreamIndex struct {
	at map[string]int // URL -> first index in Section.Backends
	n  int            // Section.Backends[:n] are indexed
}

func (x *upstreamIndex) lookup(s *config.Section, u string) (int, bool) {
	if x.at == nil {
		x.at = make(map[string]int, len(s.Backends))
	}
	for ; x.n < len(s.Backends); x.n++ {
		if _, dup := x.at[s.Backends[x.n].URL]; !dup {
			x.at[s.Backends[x.n].URL] = x.n
		}
	}
	i, ok := x.at[u]
	return i, ok
}

// parseSectionDirective parses one subdirective that the top level and
// routes share, at the dispenser's current token; idx indexes that
// section's upstreams.
func parseSectionDirective(d *caddyfile.Dispenser, s *config.Section, idx *upstreamIndex) error {
	switch d.Val() {
	case "to":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		for _, u := range args {
			s.Backends = append(s.Backends, config.Backend{URL: upstreamURL(u)})
		}
	case "weight":
		args := d.RemainingArgs()
		if len(args) == 1 {
			return d.Errf("weight of %s: the number is missing: want `weight <upstream> <weight>`", args[0])
		}
		if len(args) != 2 {
			return d.ArgErr()
		}
		w, err := strconv.Atoi(args[1])
		if err != nil {
			return d.Errf("weight of %s: %q is not a whole number", args[0], args[1])
		}
		i, ok := idx.lookup(s, upstreamURL(args[0]))
		if !ok {
			return d.Errf("weight: upstream %s is not listed by `to` before it", args[0])
		}
		s.Backends[i].Weight = &w
	case "lb_policy":
		args := d.RemainingArgs()
		if len(args) < 1 || len(args) > 2 {
			return d.ArgErr()
		}
		lb := lbOf(s)
		lb.Algorithm = args[0]
		if len(args) == 2 {
			lb.HashHeader = args[1]
		}
	case "slow_start":
		v, err := durationArg(d)
		if err != nil {
			return err
		}
		lbOf(s).SlowStart = v
	case "panic_threshold":
		if !d.NextArg() {
			return d.ArgErr()
		}
		f, err := strconv.ParseFloat(d.Val(), 64)
		if err != nil {
			return d.Errf("panic_threshold: %q is not a number", d.Val())
		}
		lbOf(s).PanicThreshold = f
	case "timeout":
		v, err := durationArg(d)
		if err != nil {
			return err
		}
		s.Timeout = v
	case "retries":
		if !d.NextArg() {
			return d.ArgErr()
		}
		n, err := strconv.Atoi(d.Val())
		if err != nil {
			return d.Errf("retries: %q is not a whole number", d.Val())
		}
		if s.Retries == nil {
			s.Retries = new(config.Retries)
		}
		s.Retries.Count = &n
	case "health_check":
		s.HealthCheck = new(config.HealthCheck)
		if d.NextArg() {
			s.HealthCheck.Path = d.Val()
		}
		return parseBlock(d, "health_check", s.HealthCheck)
	case "circuit_breaker":
		s.CircuitBreaker = new(config.CircuitBreaker)
		return parseBlock(d, "circuit_breaker", s.CircuitBreaker)
	case "rate_limit":
		s.RateLimit = new(config.RateLimit)
		if d.NextArg() {
			rps, err := strconv.ParseFloat(d.Val(), 64)
			if err != nil {
				return d.Errf("rate_limit: %q is not a rate in requests per second", d.Val())
			}
			s.RateLimit.RequestsPerSecond = rps
			if d.NextArg() {
				if d.Val() != "burst" || !d.NextArg() {
					return d.Errf("rate_limit: want `rate_limit <rps> burst <n>`, got %q", d.Val())
				}
				b, err := strconv.Atoi(d.Val())
				if err != nil {
					return d.Errf("rate_limit burst: %q is not a whole number", d.Val())
				}
				s.RateLimit.Burst = b
			}
		}
		return parseBlock(d, "rate_limit", s.RateLimit)
	case "cache":
		s.Cache = new(config.Cache)
		return parseBlock(d, "cache", s.Cache)
	default:
		return d.Errf("unrecognized subdirective %q", d.Val())
	}
	return nil
}

func lbOf(s *config.Section) *config.LoadBalancer {
	if s.LoadBalancer == nil {
		s.LoadBalancer = new(config.LoadBalancer)
	}
	return s.LoadBalancer
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	name := d.Val()
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	v, err := caddy.ParseDuration(d.Val())
	if err != nil {
		return 0, d.Errf("%s: bad duration %q: %v", name, d.Val(), err)
	}
	if d.NextArg() {
		return 0, d.ArgErr()
	}
	return caddy.Duration(v), nil
}

// parseBlock fills the struct that dst points to from a block whose
// subdirectives are the struct's JSON keys, so the Caddyfile and the JSON
// can never disagree on a name.
func parseBlock(d *caddyfile.Dispenser, section string, dst any) error {
	v := reflect.ValueOf(dst).Elem()
	fields := jsonFields(v.Type())
	for n := d.Nesting(); d.NextBlock(n); {
		key := d.Val()
		idx, ok := fields[key]
		if !ok {
			return d.Errf("%s: unrecognized subdirective %q", section, key)
		}
		// A nested section (rate_limit's redis { ... }) is a block of its
		// own.
		if ft := v.Field(idx).Type(); ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
			if d.NextArg() {
				return d.ArgErr()
			}
			p := reflect.New(ft.Elem())
			if err := parseBlock(d, section+" "+key, p.Interface()); err != nil {
				return err
			}
			v.Field(idx).Set(p)
			continue
		}
		args := d.RemainingArgs()
		if err := setField(v.Field(idx), args); err != nil {
			return d.Errf("%s %s: %v", section, key, err)
		}
	}
	return nil
}

func jsonFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

var durationType = reflect.TypeOf(caddy.Duration(0))

// setField parses args into one field of a config section.
func setField(f reflect.Value, args []string) error {
	one := func() (string, error) {
		if len(args) != 1 {
			return "", fmt.Errorf("want one value, got %d", len(args))
		}
		return args[0], nil
	}
	switch {
	case f.Type() == durationType:
		a, err := one()
		if err != nil {
			return err
		}
		dur, err := caddy.ParseDuration(a)
		if err != nil {
			return fmt.Errorf("bad duration %q: %v", a, err)
		}
		f.SetInt(int64(dur))
		return nil
	case f.Kind() == reflect.Pointer:
		p := reflect.New(f.Type().Elem())
		if err := setField(p.Elem(), args); err != nil {
			return err
		}
		f.Set(p)
		return nil
	case f.Kind() == reflect.Map:
		if len(args) != 2 {
			return fmt.Errorf("want a name and a value, got %d values", len(args))
		}
		if f.IsNil() {
			f.Set(reflect.MakeMap(f.Type()))
		}
		f.SetMapIndex(reflect.ValueOf(args[0]), reflect.ValueOf(args[1]))
		return nil
	case f.Kind() == reflect.Slice:
		if len(args) == 0 {
			return fmt.Errorf("want at least one value")
		}
		for _, a := range args {
			e := reflect.New(f.Type().Elem()).Elem()
			if err := setField(e, []string{a}); err != nil {
				return err
			}
			f.Set(reflect.Append(f, e))
		}
		return nil
	case f.Kind() == reflect.Bool:
		if len(args) == 0 {
			f.SetBool(true)
			return nil
		}
		a, err := one()
		if err != nil {
			return err
		}
		switch strings.ToLower(a) {
		case "on", "true", "yes":
			f.SetBool(true)
		case "off", "false", "no":
			f.SetBool(false)
		default:
			return fmt.Errorf("%q: want on or off", a)
		}
		return nil
	}
	a, err := one()
	if err != nil {
		return err
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(a)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", a)
		}
		f.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(a, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", a)
		}
		f.SetFloat(x)
	default:
		return fmt.Errorf("unsupported field type %s", f.Type())
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Handler)(nil)
