package smartproxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/net/http/httpguts"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/forward"
)

// shaping is what a route does to each request on its way to a backend
// (issue 17): per-backend TLS transports and the Host policy. Its zero
// value does nothing and costs nothing.
type shaping struct {
	// transports are the backends with TLS settings of their own
	// (backends[].tls); nil when none has.
	transports map[*backend.Backend]http.RoundTripper
	// ownTLS are those backends' TLS settings, for their health checks.
	ownTLS map[*backend.Backend]*tls.Config
	host   hostPolicy
	// request and response are the header changes of each direction
	// (headers); nil for none.
	request, response *headerOps
	// strip comes off the request path (strip_path_prefix); "" for none.
	strip string
	// mirror copies requests to shadow backends (mirror.go); nil: off.
	mirror *mirror
	// tls is the route's backend TLS (tls), for its health checks; nil
	// for Go's defaults.
	tls *tls.Config
}

// hostPolicy says which Host goes to the backend.
type hostPolicy struct {
	mode hostMode
	tmpl template // hostValue's
}

type hostMode uint8

const (
	hostClient  hostMode = iota // the client's Host (the outbound request's own)
	hostBackend                 // the backend URL's host[:port]
	hostValue                   // a value with placeholders
)

// newShaping builds the route's shaping from its effective section s,
// whose backends are bs (in order) and speak scheme.
func (h *Handler) newShaping(id string, s config.Section, bs []*backend.Backend, scheme string) (shaping, error) {
	var sh shaping
	switch s.HostHeader {
	case "client":
	case "backend":
		sh.host.mode = hostBackend
	case "":
		if scheme == "https" {
			sh.host.mode = hostBackend
		}
	default:
		sh.host = hostPolicy{mode: hostValue, tmpl: parseTemplate(s.HostHeader)}
	}
	if scheme == "https" {
		var err error
		if sh.tls, err = clientTLS(s.TLS); err != nil {
			return sh, err
		}
	}
	if hd := s.Headers; hd != nil {
		sh.request, sh.response = newHeaderOps(hd.Request), newHeaderOps(hd.Response)
	}
	sh.strip = strings.TrimSuffix(s.StripPathPrefix, "/")
	tm := s.EffectiveTimeouts()
	for i, bc := range s.Backends {
		if bc.TLS == nil || i >= len(bs) {
			continue
		}
		tr, err := h.transports.get(tm, scheme, bc.TLS)
		if err != nil {
			return sh, fmt.Errorf("backends[%d].%w", i, err)
		}
		own, err := clientTLS(bc.TLS)
		if err != nil {
			return sh, fmt.Errorf("backends[%d].%w", i, err)
		}
		if sh.transports == nil {
			sh.transports = make(map[*backend.Backend]http.RoundTripper)
			sh.ownTLS = make(map[*backend.Backend]*tls.Config)
		}
		sh.transports[bs[i]], sh.ownTLS[bs[i]] = tr, own
	}
	m, err := h.newMirror(id, s, &sh)
	if err != nil {
		return sh, err
	}
	sh.mirror = m
	return sh, nil
}

// sampleMirror picks r for mirroring, reading its body to share it (see
// mirror.sample); nil: not mirrored, or no mirror.
func (sh *shaping) sampleMirror(r *http.Request) *mirrorBody {
	if sh.mirror == nil {
		return nil
	}
	return sh.mirror.sample(r)
}

// sendMirror starts the copies of a sampled request, out being the
// request as the primary gets it.
func (sh *shaping) sendMirror(mb *mirrorBody, r, out *http.Request) {
	if mb != nil {
		sh.mirror.send(mb, r, out)
	}
}

// healthClient is the client of the route's HTTP health checks when its
// backends have TLS settings: a fresh connection per probe, as the health
// package's own, trusting what the route trusts. nil: the default client.
func (sh *shaping) healthClient() *http.Client {
	if sh.tls == nil {
		return nil
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: sh.tls, DisableKeepAlives: true, ForceAttemptHTTP2: true}}
}

// transportTo is the transport to m's backend: the member's own, the
// backend's own, or the route's.
func (rt *route) transportTo(m *member) http.RoundTripper {
	if m.transport != nil {
		return m.transport
	}
	if rt.shaping.transports != nil {
		if t, ok := rt.shaping.transports[m.b]; ok {
			return t
		}
	}
	return rt.transport
}

// errBadHost is the cause of the 400 a request gets whose host_header
// placeholders made a Host no request may carry (CR, LF, spaces, ...).
var errBadHost = errors.New("host_header expands to an invalid Host")

// prepare shapes out, the outbound copy of r, once per request, after
// hop-by-hop stripping and X-Forwarded-*: a Host from placeholders, the
// request header changes. A Host that is no valid Host is refused: Go's
// client would silently cut it.
func (sh *shaping) prepare(r, out *http.Request) error {
	if sh.host.mode != hostValue && sh.request == nil {
		return nil
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if sh.host.mode == hostValue {
		out.Host = sh.host.tmpl.expand(repl)
		if !httpguts.ValidHostHeader(out.Host) || strings.ContainsAny(out.Host, " \t") {
			return fmt.Errorf("%w: %q", errBadHost, truncate(out.Host, 64))
		}
	}
	if sh.request != nil {
		sh.request.apply(out.Header, repl)
	}
	return nil
}

// respond applies the response header changes to resp, the answer to r
// about to be delivered, after removing its hop-by-hop headers (so a
// backend's Connection cannot name a field set here away).
func (sh *shaping) respond(r *http.Request, resp *http.Response) {
	if sh.response == nil {
		return
	}
	forward.RemoveHopHeaders(resp.Header)
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	sh.response.apply(resp.Header, repl)
}

// atBackend shapes out for a try at b: the backend's Host.
func (sh *shaping) atBackend(out *http.Request, b *backend.Backend) {
	if sh.host.mode == hostBackend {
		out.Host = backendHost(b)
	}
}

// backendHost is b's host[:port] as a Host header: without the scheme's
// default port, as a browser would send it. A backend found in DNS is
// named by the name it was found under, not by its address: a virtual
// host behind it, and an https one that checks Host against the SNI it
// got (the same name), answers to that name.
func backendHost(b *backend.Backend) string {
	h := b.URL.Host
	if b.HostName != "" {
		h = b.HostName
	}
	switch b.URL.Scheme {
	case "https":
		return strings.TrimSuffix(h, ":443")
	case "http", "h2c":
		return strings.TrimSuffix(h, ":80")
	}
	return h
}
