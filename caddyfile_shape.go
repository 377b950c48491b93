package smartproxy

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/caddy-smartproxy/smartproxy/config"
)

// The subdirectives that shape requests: timeouts and retry rules, with
// Caddy's reverse_proxy words where the meaning is the same.

// shapeNames are the subdirectives shapeDirective knows.
var shapeNames = append([]string{"timeouts", "dial_timeout", "response_header_timeout", "read_timeout", "write_timeout",
	"keepalive", "request_body_timeout", "host_header", "headers", "header_up", "header_down",
	"strip_path_prefix", "mirror"}, tlsNames...)

// timeoutWords are Caddy's transport words for single timeouts, each a
// key of config.Timeouts.
var timeoutWords = map[string]string{
	"dial_timeout":            "dial",
	"response_header_timeout": "response_header",
	"read_timeout":            "read",
	"write_timeout":           "write",
	"keepalive":               "idle_connection",
	"request_body_timeout":    "request_body",
}

// shapeDirective parses one of shapeNames, or the block form of
// `retries`, into s; ok is false for any other subdirective.
func (p *cfParser) shapeDirective(prefix string, s *config.Section) (ok bool, err error) {
	d := p.d
	if ok, err := p.tlsDirective(prefix, func() *config.BackendTLS { return tlsOf(&s.TLS) }); ok {
		return true, err
	}
	if key, one := timeoutWords[d.Val()]; one {
		p.mark(prefix + "timeouts." + key)
		v, err := durationArg(d)
		if err != nil {
			return true, err
		}
		if s.Timeouts == nil {
			s.Timeouts = new(config.Timeouts)
		}
		f, _ := config.LookupField(config.Fields(reflect.TypeFor[config.Timeouts]()), key)
		reflect.ValueOf(s.Timeouts).Elem().FieldByIndex(f.Index).SetInt(int64(v))
		return true, nil
	}
	switch d.Val() {
	case "host_header":
		p.mark(prefix + "host_header")
		args := d.RemainingArgs()
		if len(args) != 1 {
			return true, d.ArgErr()
		}
		s.HostHeader = args[0]
	case "headers":
		p.mark(prefix + "headers")
		if s.Headers == nil {
			s.Headers = new(config.Headers)
		}
		return true, p.block(prefix+"headers", s.Headers)
	case "header_up", "header_down":
		return true, p.headerWord(prefix, s)
	case "mirror":
		p.mark(prefix + "mirror")
		m := new(config.Mirror)
		for d.NextArg() {
			p.mark(prefix + "mirror.backends[" + strconv.Itoa(len(m.Backends)) + "].url")
			m.Backends = append(m.Backends, config.Backend{URL: upstreamURL(d.Val())})
		}
		s.Mirror = m
		return true, p.block(prefix+"mirror", m)
	case "strip_path_prefix":
		p.mark(prefix + "strip_path_prefix")
		args := d.RemainingArgs()
		if len(args) != 1 {
			return true, d.ArgErr()
		}
		s.StripPathPrefix = args[0]
	case "timeouts":
		p.mark(prefix + "timeouts")
		if s.Timeouts == nil {
			s.Timeouts = new(config.Timeouts)
		}
		return true, p.block(prefix+"timeouts", s.Timeouts)
	case "retries":
		p.mark(prefix + "retries")
		if s.Retries == nil {
			s.Retries = new(config.Retries)
		}
		if d.NextArg() {
			n, err := strconv.Atoi(d.Val())
			if err != nil {
				return true, d.Errf("retries: %q is not a whole number", d.Val())
			}
			p.mark(prefix + "retries.count")
			s.Retries.Count = &n
		}
		return true, p.block(prefix+"retries", s.Retries)
	default:
		return false, nil
	}
	return true, nil
}

// tlsOf is *t, made first if it is nil.
func tlsOf(t **config.BackendTLS) *config.BackendTLS {
	if *t == nil {
		*t = new(config.BackendTLS)
	}
	return *t
}

// headerWord parses Caddy's `header_up` / `header_down`: `<field>
// <value>` sets, `+<field> <value>` adds, `-<field>` deletes. `header_up
// Host <value>` is host_header (`{http.reverse_proxy.upstream.hostport}`
// meaning backend), since the proxy manages Host.
func (p *cfParser) headerWord(prefix string, s *config.Section) error {
	d := p.d
	word := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 || len(args) > 2 {
		return d.Errf("%s: want <field> <value>, +<field> <value> or -<field>, got %d values", word, len(args))
	}
	name, op := args[0], "set"
	switch {
	case strings.HasPrefix(name, "+"):
		name, op = name[1:], "add"
	case strings.HasPrefix(name, "-"):
		name, op = name[1:], "delete"
	}
	if (op == "delete") != (len(args) == 1) {
		return d.Errf("%s %s: a value goes with <field> and +<field>, none with -<field>", word, args[0])
	}
	if word == "header_up" && op == "set" && strings.EqualFold(name, "Host") {
		p.mark(prefix + "host_header")
		s.HostHeader = args[1]
		if args[1] == "{http.reverse_proxy.upstream.hostport}" || args[1] == "{upstream_hostport}" {
			s.HostHeader = "backend"
		}
		return nil
	}
	if s.Headers == nil {
		s.Headers = new(config.Headers)
	}
	dir, ops := "request", &s.Headers.Request
	if word == "header_down" {
		dir, ops = "response", &s.Headers.Response
	}
	if *ops == nil {
		*ops = new(config.HeaderOps)
	}
	o := *ops
	base := prefix + "headers." + dir
	p.mark(prefix + "headers")
	p.mark(base)
	switch op {
	case "set":
		if o.Set == nil {
			o.Set = map[string]string{}
		}
		o.Set[name] = args[1]
		p.mark(base + ".set")
		p.mark(base + ".set." + name)
	case "add":
		if o.Add == nil {
			o.Add = map[string]string{}
		}
		o.Add[name] = args[1]
		p.mark(base + ".add")
		p.mark(base + ".add." + name)
	case "delete":
		p.mark(base + ".delete[" + strconv.Itoa(len(o.Delete)) + "]")
		o.Delete = append(o.Delete, name)
	}
	return nil
}
