package config

import (
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Timeouts bounds each phase of one exchange with a backend. Every field
// is a duration of at least 1ms, or 0 for its default.
type Timeouts struct {
	// Dial bounds connecting to a backend, the TLS handshake of an https
	// backend included. A backend that does not accept in time was never
	// reached: the request moves on to another backend. Default: 3s, or
	// response_header when that is shorter.
	Dial caddy.Duration `json:"dial,omitempty"`

	// ResponseHeader bounds the wait for a backend's response headers once
	// the request is written; past it the client gets 504. It is the same
	// setting as the section's `timeout` (give one of the two). Default:
	// 30s.
	ResponseHeader caddy.Duration `json:"response_header,omitempty"`

	// Read bounds each read from a backend connection: a response body
	// (or an idle HTTP/2 connection) that sends nothing for this long is
	// cut. Streams that may stay silent (server-sent events, WebSockets)
	// need it off or long. Default: 0 (no limit).
	Read caddy.Duration `json:"read,omitempty"`

	// Write bounds each write to a backend connection (a request body the
	// backend does not take). Default: 0 (no limit).
	Write caddy.Duration `json:"write,omitempty"`

	// IdleConnection is how long an unused keep-alive connection to a
	// backend is kept open. Default: 90s.
	IdleConnection caddy.Duration `json:"idle_connection,omitempty"`

	// RequestBody bounds how long the client may take to send its whole
	// request body, counted from the start of proxying; a slower upload
	// gets 408 Request Timeout and is not held against the backend.
	// Default: 0 (no limit beyond the server's own read_timeout).
	RequestBody caddy.Duration `json:"request_body,omitempty"`
}

// Default timeouts of a backend exchange.
const (
	DefaultDialTimeout           = 3 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
)

// EffectiveTimeouts returns the section's timeouts with every default
// applied: `timeout` read as response_header, and the dial bound not
// longer than response_header.
func (s Section) EffectiveTimeouts() Timeouts {
	var t Timeouts
	if s.Timeouts != nil {
		t = *s.Timeouts
	}
	if t.ResponseHeader == 0 {
		t.ResponseHeader = s.Timeout
	}
	if t.ResponseHeader == 0 {
		t.ResponseHeader = caddy.Duration(DefaultResponseHeaderTimeout)
	}
	if t.Dial == 0 {
		t.Dial = caddy.Duration(min(DefaultDialTimeout, time.Duration(t.ResponseHeader)))
	}
	if t.IdleConnection == 0 {
		t.IdleConnection = caddy.Duration(DefaultIdleConnTimeout)
	}
	return t
}

// validateTimeouts checks a section's timeout keys against each other
// (each one alone is checked by validateDurations): `timeout` and
// `timeouts.response_header` are one setting, so a section may give one.
func (s *Section) validateTimeouts(p string) error {
	t := s.Timeouts
	if t == nil || t.ResponseHeader == 0 || s.Timeout == 0 || t.ResponseHeader == s.Timeout {
		return nil
	}
	return errAt(p+"timeouts.response_header", "%v: the section's timeout (%v) is the same setting; give one of the two",
		time.Duration(t.ResponseHeader), time.Duration(s.Timeout))
}

// inheritTimeouts gives the route section r the top level's timeouts it
// leaves unset. A route's own `timeout` wins over an inherited
// timeouts.response_header.
func inheritTimeouts(r *Section, top Section) {
	if r.Timeouts == nil && top.Timeouts != nil {
		t := *top.Timeouts
		if r.Timeout != 0 {
			t.ResponseHeader = 0
		}
		r.Timeouts = &t
	}
	if r.Timeout == 0 && (r.Timeouts == nil || r.Timeouts.ResponseHeader == 0) {
		r.Timeout = top.Timeout
	}
}
