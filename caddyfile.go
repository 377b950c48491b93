package smartproxy

import (
	"reflect"
	"strconv"
	"strings"

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
	return adaptCaddyfile(h.Dispenser)
}

// adaptCaddyfile parses one smartproxy directive and checks it with the
// config package's rules (config.Validate, the ones the JSON and the yaml
// adapter get), so every mistake is reported at adapt time with the file
// and line of the subdirective that made it, e.g. `rate_limit 100` without
// a burst: `rate_limit.burst: required: ..., at Caddyfile:7`. A key the
// block does not write (a missing required one) is reported at its
// nearest written ancestor.
func adaptCaddyfile(d *caddyfile.Dispenser) (*Handler, error) {
	sp := new(Handler)
	p, err := sp.unmarshalCaddyfile(d)
	if err != nil {
		return nil, err
	}
	return sp, p.validate(&sp.Config)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	smartproxy [<upstreams...>] {
//	    to <upstreams...> [{
//	        tls { ... }                             # these upstreams' own tls (backends[].tls):
//	        tls_trusted_ca_certs <pem_file>         # the keys and words of the section's tls below
//	        tls_client_auth <cert_file> <key_file>
//	        tls_server_name <name>
//	        tls_insecure_skip_verify
//	        tls_renegotiation <level>
//	    }]
//	    weight <upstream> <weight>
//	    backup <upstreams...>
//	    discovery dns [<name>] {
//	        name <dns name>
//	        type A|AAAA|SRV
//	        port <port>
//	        scheme http|https|h2c
//	        refresh <duration>
//	        resolvers <ip[:port]...>
//	        timeout <duration>
//	        weight <n>
//	    }
//	    stream_close_delay <duration>
//	    lb_policy <algorithm> [<hash_header>]
//	    slow_start <duration>
//	    panic_threshold <fraction>
//	    max_requests [<upstream>] <n>
//	    queue {
//	        size <n>
//	        timeout <duration>
//	    }
//	    sticky [<cookie>] {
//	        cookie <name>
//	        max_age <duration>
//	        secure on|off
//	        http_only on|off
//	        same_site lax|strict|none
//	        secret <secret, e.g. {env.STICKY_SECRET}>
//	    }
//	    timeout <duration>
//	    timeouts {
//	        dial <duration>
//	        response_header <duration>
//	        read <duration>
//	        write <duration>
//	        idle_connection <duration>
//	        request_body <duration>
//	    }
//	    dial_timeout <duration>             # = timeouts { dial }, as reverse_proxy's transport
//	    response_header_timeout <duration>  # = timeouts { response_header }
//	    read_timeout <duration>             # = timeouts { read }
//	    write_timeout <duration>            # = timeouts { write }
//	    keepalive <duration>                # = timeouts { idle_connection }
//	    request_body_timeout <duration>     # = timeouts { request_body }
//	    tls {
//	        ca <pem_file>
//	        ca_pem <pem>
//	        client_certificate <pem_file>
//	        client_key <pem_file>
//	        server_name <name>
//	        insecure_skip_verify
//	        min_version 1.2|1.3
//	        renegotiation never|once|freely
//	    }
//	    tls_trusted_ca_certs <pem_file>         # = tls { ca }, Caddy's word
//	    tls_client_auth <cert_file> <key_file>  # = tls { client_certificate client_key }
//	    tls_server_name <name>                  # = tls { server_name }
//	    tls_insecure_skip_verify                # = tls { insecure_skip_verify }
//	    tls_renegotiation <level>               # = tls { renegotiation }
//	    host_header client|backend|<value with placeholders>
//	    headers {
//	        request|response {
//	            set <field> <value>
//	            add <field> <value>
//	            delete <fields...>
//	        }
//	    }
//	    header_up [+|-]<field> [<value>]    # set, +add, -delete on requests; Host: host_header
//	    header_down [+|-]<field> [<value>]  # the same on responses
//	    strip_path_prefix <prefix>
//	    mirror <upstreams...> {
//	        percent <0-100>
//	        max_body_bytes <bytes>
//	        max_in_flight <n>
//	        timeout <duration>
//	    }
//	    retries [<count>] {
//	        count <n>
//	        backoff <duration>
//	        budget <fraction>
//	        max_body_bytes <bytes>
//	        on_status <codes...>
//	        methods <methods...>
//	    }
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
//	        key_fallback client_ip|refuse|shared
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
//	        stale_while_revalidate <duration>
//	        tag_headers <field...>
//	        expose_tags
//	        targets <field...>
//	        strip_targets
//	        heuristic {
//	            fraction <0-1>
//	            max <duration>
//	        }
//	    }
//	    route <host[/path]|/path> {
//	        # any of the subdirectives above except route and admin_state
//	    }
//	    admin_state {              # top level only: share drain/maint/weights
//	        store redis
//	        redis { ... }          # the keys of rate_limit's redis block
//	    }
//	}
//
// An upstream is a URL (`http://10.0.0.1:8080`, `https://api.internal`,
// `h2c://grpc:9000`) or a bare `host:port`, which means http. A block
// after `to` gives its upstreams TLS settings of their own, which replace
// the section's for them (JSON backends[].tls). Weights
// default to 1; `weight <upstream> 0` drains an upstream; `backup` makes
// upstreams listed by `to` standbys, used only while no other upstream is
// available. `discovery dns` adds the backends a DNS name resolves to
// (its block's keys are those of the JSON's discovery.dns). `max_requests
// <n>` caps every upstream's requests in flight (load_balancer.max_requests),
// `max_requests <upstream> <n>` one upstream's; `queue` and `sticky` are
// load_balancer.queue and load_balancer.sticky. A `route` inherits
// every setting it does not give from the enclosing block. Inside the
// blocks of health_check, circuit_breaker, rate_limit and cache, each
// subdirective is the JSON key of the same name; a flag without a value
// (`global`, `allow_set_cookie`) means true. An unknown subdirective is an
// error that suggests the nearest known one.
//
// UnmarshalCaddyfile only parses; the directive also validates the block
// at once, naming the line of a bad value (see adaptCaddyfile).
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	_, err := h.unmarshalCaddyfile(d)
	return err
}

// unmarshalCaddyfile parses the block and returns the parser, which knows
// the token that set each key.
func (h *Handler) unmarshalCaddyfile(d *caddyfile.Dispenser) (*cfParser, error) {
	d.Next() // consume directive name
	p := &cfParser{d: d, at: map[string]caddyfile.Token{"": d.Token()}}
	for _, u := range d.RemainingArgs() {
		p.mark("backends[" + strconv.Itoa(len(h.Backends)) + "].url")
		h.Backends = append(h.Backends, config.Backend{URL: upstreamURL(u)})
	}
	var top upstreamIndex
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() == "admin_state" {
			p.mark("admin_state")
			h.AdminState = new(config.AdminState)
			if err := p.block("admin_state", h.AdminState); err != nil {
				return nil, err
			}
			continue
		}
		if d.Val() == "route" {
			var r config.Route
			var idx upstreamIndex
			prefix := "routes[" + strconv.Itoa(len(h.Routes)) + "]"
			p.mark(prefix)
			if !d.NextArg() {
				return nil, d.ArgErr()
			}
			r.Host, r.Path = splitRouteMatch(d.Val())
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			for n := d.Nesting(); d.NextBlock(n); {
				if d.Val() == "route" {
					return nil, d.Err("route blocks cannot be nested")
				}
				if err := p.sectionDirective(prefix+".", &r.Section, &idx); err != nil {
					return nil, err
				}
			}
			h.Routes = append(h.Routes, r)
			continue
		}
		if err := p.sectionDirective("", &h.Section, &top); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// cfParser parses one smartproxy block and remembers, for each key path it
// set, the token that set it, so a validation error can name its line.
type cfParser struct {
	d  *caddyfile.Dispenser
	at map[string]caddyfile.Token // key path -> the token that set it
}

// mark records the dispenser's current token as where path was set.
func (p *cfParser) mark(path string) { p.at[path] = p.d.Token() }

// sectionNames are the subdirectives sectionDirective knows, for "did
// you mean".
var sectionNames = []string{"to", "weight", "backup", "discovery", "stream_close_delay", "lb_policy", "slow_start", "panic_threshold",
	"max_requests", "queue", "sticky", "timeout", "retries",
	"health_check", "circuit_breaker", "rate_limit", "cache", "route", "admin_state"}

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

// sectionDirective parses one subdirective that the top level and routes
// share, at the dispenser's current token, into s, whose key paths start
// with prefix; idx indexes that section's upstreams.
func (p *cfParser) sectionDirective(prefix string, s *config.Section, idx *upstreamIndex) error {
	d := p.d
	switch d.Val() {
	case "to":
		if !d.NextArg() {
			return d.ArgErr()
		}
		first := len(s.Backends)
		for ok := true; ok; ok = d.NextArg() {
			p.mark(prefix + "backends[" + strconv.Itoa(len(s.Backends)) + "].url")
			s.Backends = append(s.Backends, config.Backend{URL: upstreamURL(d.Val())})
		}
		return p.upstreamBlock(prefix, s, first)
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
		p.mark(prefix + "backends[" + strconv.Itoa(i) + "].weight")
		s.Backends[i].Weight = &w
	case "backup":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return d.ArgErr()
		}
		for _, a := range args {
			i, ok := idx.lookup(s, upstreamURL(a))
			if !ok {
				return d.Errf("backup: upstream %s is not listed by `to` before it", a)
			}
			p.mark(prefix + "backends[" + strconv.Itoa(i) + "].backup")
			s.Backends[i].Backup = true
		}
	case "discovery":
		p.mark(prefix + "discovery")
		if !d.NextArg() {
			return d.ArgErr()
		}
		if d.Val() != "dns" {
			return d.Errf("discovery: unknown source %q: want `discovery dns <name> { ... }`", d.Val())
		}
		dns := new(config.DNSDiscovery)
		s.Discovery = &config.Discovery{DNS: dns}
		p.mark(prefix + "discovery.dns")
		if d.NextArg() {
			p.mark(prefix + "discovery.dns.name")
			dns.Name = d.Val()
		}
		return p.block(prefix+"discovery.dns", dns)
	case "stream_close_delay":
		p.mark(prefix + "stream_close_delay")
		v, err := durationArg(d)
		if err != nil {
			return err
		}
		s.StreamCloseDelay = v
	case "lb_policy":
		args := d.RemainingArgs()
		if len(args) < 1 || len(args) > 2 {
			return d.ArgErr()
		}
		lb := lbOf(s)
		lb.Algorithm = args[0]
		p.mark(prefix + "load_balancer")
		p.mark(prefix + "load_balancer.algorithm")
		if len(args) == 2 {
			lb.HashHeader = args[1]
			p.mark(prefix + "load_balancer.hash_header")
		}
	case "slow_start":
		p.mark(prefix + "load_balancer.slow_start")
		v, err := durationArg(d)
		if err != nil {
			return err
		}
		lbOf(s).SlowStart = v
	case "panic_threshold":
		p.mark(prefix + "load_balancer.panic_threshold")
		if !d.NextArg() {
			return d.ArgErr()
		}
		f, err := strconv.ParseFloat(d.Val(), 64)
		if err != nil {
			return d.Errf("panic_threshold: %q is not a number", d.Val())
		}
		lbOf(s).PanicThreshold = f
	case "max_requests", "queue", "sticky":
		return p.capsDirective(prefix, s, idx)
	case "timeout":
		p.mark(prefix + "timeout")
		v, err := durationArg(d)
		if err != nil {
			return err
		}
		s.Timeout = v
	case "health_check":
		p.mark(prefix + "health_check")
		s.HealthCheck = new(config.HealthCheck)
		if d.NextArg() {
			p.mark(prefix + "health_check.path")
			s.HealthCheck.Path = d.Val()
		}
		return p.block(prefix+"health_check", s.HealthCheck)
	case "circuit_breaker":
		p.mark(prefix + "circuit_breaker")
		s.CircuitBreaker = new(config.CircuitBreaker)
		return p.block(prefix+"circuit_breaker", s.CircuitBreaker)
	case "rate_limit":
		p.mark(prefix + "rate_limit")
		s.RateLimit = new(config.RateLimit)
		if d.NextArg() {
			p.mark(prefix + "rate_limit.requests_per_second")
			rps, err := strconv.ParseFloat(d.Val(), 64)
			if err != nil {
				return d.Errf("rate_limit: %q is not a rate in requests per second", d.Val())
			}
			s.RateLimit.RequestsPerSecond = rps
			if d.NextArg() {
				if d.Val() != "burst" || !d.NextArg() {
					return d.Errf("rate_limit: want `rate_limit <rps> burst <n>`, got %q", d.Val())
				}
				p.mark(prefix + "rate_limit.burst")
				b, err := strconv.Atoi(d.Val())
				if err != nil {
					return d.Errf("rate_limit burst: %q is not a whole number", d.Val())
				}
				s.RateLimit.Burst = b
			}
		}
		return p.block(prefix+"rate_limit", s.RateLimit)
	case "cache":
		p.mark(prefix + "cache")
		s.Cache = new(config.Cache)
		return p.block(prefix+"cache", s.Cache)
	default:
		if ok, err := p.shapeDirective(prefix, s); ok {
			return err
		}
		return unknownSubdirective(d, "", append(sectionNames, shapeNames...))
	}
	return nil
}

func lbOf(s *config.Section) *config.LoadBalancer {
	if s.LoadBalancer == nil {
		s.LoadBalancer = new(config.LoadBalancer)
	}
	return s.LoadBalancer
}

// block fills the struct that dst points to from a block whose
// subdirectives are the struct's JSON keys (config.Fields, the walker the
// JSON decoder and the yaml adapter use), so the Caddyfile and the JSON can
// never disagree on a name. path is the block's key path.
func (p *cfParser) block(path string, dst any) error {
	d := p.d
	v := reflect.ValueOf(dst).Elem()
	fields := config.Fields(v.Type())
	section := strings.ReplaceAll(path[strings.LastIndexByte(path, ']')+1:], ".", " ")
	section = strings.TrimPrefix(section, " ")
	if d.NextArg() {
		return d.Errf("%s: unexpected argument %q before the block", section, d.Val())
	}
	for n := d.Nesting(); d.NextBlock(n); {
		key := d.Val()
		f, ok := config.LookupField(fields, key)
		if !ok {
			return unknownSubdirective(d, section, config.FieldNames(fields))
		}
		p.mark(path + "." + key)
		fv := v.FieldByIndex(f.Index)
		// A nested section (rate_limit's redis { ... }) is a block of its
		// own.
		if ft := f.Type; ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
			sub := reflect.New(ft.Elem())
			if err := p.block(path+"."+key, sub.Interface()); err != nil {
				return err
			}
			fv.Set(sub)
			continue
		}
		args := d.RemainingArgs()
		if err := setField(fv, args); err != nil {
			return d.Errf("%s %s: %v", section, key, err)
		}
	}
	return nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Handler)(nil)
