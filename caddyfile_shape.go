package smartproxy

import (
	"reflect"
	"strconv"

	"github.com/caddy-smartproxy/smartproxy/config"
)

// The subdirectives that shape requests: timeouts and retry rules, with
// Caddy's reverse_proxy words where the meaning is the same.

// shapeNames are the subdirectives shapeDirective knows.
var shapeNames = []string{"timeouts", "dial_timeout", "response_header_timeout", "read_timeout", "write_timeout",
	"keepalive", "request_body_timeout"}

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
	}
	return false, nil
}
