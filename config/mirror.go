package config

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// Mirror sends a copy of a share of a route's requests to other backends
// (shadow traffic): the copies go in the background, their answers are
// thrown away, and the client only ever sees the primary backend's answer
// and latency. Copies carry `X-Smartproxy-Mirror: 1`.
type Mirror struct {
	// Backends each get a copy of every sampled request. Their weight,
	// backup and tls keys do not apply, except tls for https:// ones
	// (default: the section's tls). Required.
	Backends []Backend `json:"backends,omitempty"`

	// Percent of the requests that are copied, spread evenly (every
	// 10th at 10). Default: 100.
	Percent float64 `json:"percent,omitempty"`

	// MaxBodyBytes is the largest request body copied; a request with a
	// larger one is not mirrored. Bodies up to it are read before the
	// request goes to the primary. Default: 64 KiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	// MaxInFlight bounds the copies under way at once; a copy over it is
	// dropped (and counted). Default: 100.
	MaxInFlight int `json:"max_in_flight,omitempty"`

	// Timeout bounds one copy from sending to the end of its answer.
	// Default: 5s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

func (m *Mirror) validate(p string) error {
	if m == nil {
		return nil
	}
	if len(m.Backends) == 0 {
		return errAt(p+".backends", "required: the backends that get the copies")
	}
	seen := map[string]int{}
	for i, b := range m.Backends {
		bp := p + ".backends[" + strconv.Itoa(i) + "]"
		u, err := backend.Parse(b.URL)
		if err != nil {
			return &Error{Path: bp + ".url", Err: err}
		}
		if j, dup := seen[u.String()]; dup {
			return errAt(bp+".url", "%q: duplicate of %s.backends[%d]", b.URL, p, j)
		}
		seen[u.String()] = i
		if b.Weight != nil || b.Backup {
			return errAt(bp, "weight and backup do not apply to mirror backends: each gets every copy")
		}
		if b.TLS != nil && u.Scheme != "https" {
			return errAt(bp+".tls", "set, but the backend is %s://: TLS settings apply to https:// backends", u.Scheme)
		}
		if err := b.TLS.validate(bp + ".tls"); err != nil {
			return err
		}
	}
	if m.Percent < 0 || m.Percent > 100 {
		return errAt(p+".percent", "%v: must be between 0 and 100", m.Percent)
	}
	if m.MaxBodyBytes < 0 {
		return errAt(p+".max_body_bytes", "%d: must not be negative", m.MaxBodyBytes)
	}
	return nonNegInt(p, "max_in_flight", m.MaxInFlight)
}
