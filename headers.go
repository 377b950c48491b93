package smartproxy

import (
	"net"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1 (and the
// non-standard ones that proxies also drop): they describe one connection and
// must not be forwarded.
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// removeHopHeaders deletes the hop-by-hop headers from h, including every
// header named in its Connection header.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for len(v) > 0 {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if name = textproto.TrimString(name); name != "" {
				delete(h, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// upgradeType returns the protocol a request or response asks to switch to
// (the Upgrade header, when Connection lists "upgrade"), or "".
func upgradeType(h http.Header) string {
	for _, v := range h["Connection"] {
		for len(v) > 0 {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(textproto.TrimString(tok), "upgrade") {
				return h.Get("Upgrade")
			}
		}
	}
	return ""
}

// Shared, never modified values of X-Forwarded-Proto: assigning them saves
// an allocation per request. Nothing downstream writes into a header's
// value slice in place (the transports only read).
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

// setForwarded sets X-Forwarded-For, -Proto and -Host on out, the outbound
// copy of r. When the client is a trusted proxy (Caddy's trusted_proxies),
// the values it sent are kept and extended; otherwise they are replaced, so a
// client cannot forge its address to the backend.
//
// buf holds the new values, so that a pooled request allocates nothing.
func setForwarded(out http.Header, r *http.Request, buf *[2]string) {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	clientIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		clientIP = r.RemoteAddr
	}
	if prior := out["X-Forwarded-For"]; trusted && len(prior) > 0 {
		out.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+clientIP)
	} else {
		buf[0] = clientIP
		out["X-Forwarded-For"] = buf[0:1:1]
	}
	if !trusted || out.Get("X-Forwarded-Proto") == "" {
		if r.TLS != nil {
			out["X-Forwarded-Proto"] = protoHTTPS
		} else {
			out["X-Forwarded-Proto"] = protoHTTP
		}
	}
	if !trusted || out.Get("X-Forwarded-Host") == "" {
		buf[1] = r.Host
		out["X-Forwarded-Host"] = buf[1:2:2]
	}
}
