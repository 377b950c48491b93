package forward

import (
	"net"
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
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
	// Only meaningful with "Upgrade: h2c", which is never forwarded: an
	// h2c upgrade reaching a backend that honours it would switch the
	// connection under the proxy's feet (request smuggling).
	"Http2-Settings",
}

// RemoveHopHeaders deletes the hop-by-hop headers from h, including every
// header named in its Connection header.
func RemoveHopHeaders(h http.Header) {
	removeConnectionOptions(h, h["Connection"])
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// removeConnectionOptions deletes from h the fields that the Connection
// values conn name.
func removeConnectionOptions(h http.Header, conn []string) {
	for _, v := range conn {
		for len(v) > 0 {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if name = textproto.TrimString(name); name != "" {
				delete(h, connectionOption(name))
			}
		}
	}
}

// CopyEndToEnd copies the fields of src into dst but the hop-by-hop ones,
// sharing the value slices: dst ends as it would after
// RemoveHopHeaders(src) and a copy of every field of src. Without a
// Connection field in src (the common case) src is left as it is and no
// hop-by-hop name is looked up in either map; with one, src is stripped
// first, so the options it names come off src only, never off fields dst
// already held.
func CopyEndToEnd(dst, src http.Header) {
	if _, ok := src["Connection"]; ok {
		RemoveHopHeaders(src)
		for k, vv := range src {
			dst[k] = vv
		}
		return
	}
	for k, vv := range src {
		if !isHopHeader(k) {
			dst[k] = vv
		}
	}
}

// isHopHeader reports whether the canonical key k is one of hopHeaders.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings":
		return true
	}
	return false
}

// connectionOption returns the canonical header key of a Connection
// option; the usual ones without allocating.
func connectionOption(name string) string {
	switch {
	case strings.EqualFold(name, "close"):
		return "Close"
	case strings.EqualFold(name, "keep-alive"):
		return "Keep-Alive"
	case strings.EqualFold(name, "upgrade"):
		return "Upgrade"
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// UpgradeType returns the protocol a request or response asks to switch to
// (the Upgrade header, when Connection lists "upgrade"), or "".
func UpgradeType(h http.Header) string {
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

// IsH2CUpgrade reports whether an Upgrade value asks for h2c. Like Caddy,
// the proxy never forwards such an upgrade: the client's connection to the
// proxy is not the proxy's connection to the backend.
func IsH2CUpgrade(up string) bool {
	for len(up) > 0 {
		var tok string
		tok, up, _ = strings.Cut(up, ",")
		tok = textproto.TrimString(tok)
		if len(tok) >= 3 && strings.EqualFold(tok[:3], "h2c") {
			return true
		}
	}
	return false
}

// DropInvalidNames deletes from h, a backend's answer's fields, those
// whose names are not tokens (RFC 9110 §5.1), and reports whether it
// deleted any. Go's HTTP/1.1 parser (http.ReadResponse, and the chunked
// reader for trailers) keeps "X Bad: 1" and "Content-Length : 100"
// (golang.org/issue/34540) under names with a space; Go's HTTP/1 and
// HTTP/2 servers drop such fields when they write them, but quic-go's
// HTTP/3 server sends them as they are: a second length to any gateway
// that trims names, and a malformed answer (RFC 9114 §4.2) to the rest.
// It scans every name: callers keep it off the common path (h1's parser
// in place refuses such heads; only its slow path needs it).
func DropInvalidNames(h http.Header) bool {
	dropped := false
	for k := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			delete(h, k)
			dropped = true
		}
	}
	return dropped
}

// ForbiddenTrailer reports whether a field must not be sent as a trailer
// (RFC 9110 §6.5.1): framing, routing, request modifiers, authentication,
// response control and the fields that say how to process the payload.
func ForbiddenTrailer(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Content-Length", "Transfer-Encoding", "Content-Encoding", "Content-Type", "Content-Range",
		"Trailer", "Host", "Connection", "Keep-Alive", "Upgrade", "Te", "Proxy-Connection",
		"Cache-Control", "Expect", "Max-Forwards", "Pragma", "Range", "Authorization",
		"Proxy-Authenticate", "Proxy-Authorization", "Www-Authenticate", "Set-Cookie", "Cookie",
		"Age", "Expires", "Date", "Location", "Retry-After", "Vary", "Warning":
		return true
	}
	return false
}

// PermittedTrailers returns a map of the trailer names announced in t that
// may be forwarded; the values are filled in when the body ends.
func PermittedTrailers(t http.Header) http.Header {
	out := make(http.Header, len(t))
	for k := range t {
		if !ForbiddenTrailer(k) {
			out[k] = nil
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Shared, never modified values of X-Forwarded-Proto: assigning them saves
// an allocation per request. Nothing downstream writes into a header's
// value slice in place (the transports only read).
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

// SetForwarded sets X-Forwarded-For, -Proto and -Host on out, the outbound
// copy of r. When the client is a trusted proxy (in Caddy, its
// trusted_proxies), the values it sent are kept and extended; otherwise they
// are replaced, so a client cannot forge its address to the backend.
//
// buf holds the new values, so that a pooled request allocates nothing.
func SetForwarded(out http.Header, r *http.Request, trusted bool, buf *[2]string) {
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
