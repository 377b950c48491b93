package router

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxHostLen is the longest host a route may name: the DNS limit for a name
// without its trailing dot. A longer request host cannot equal any route
// host, and a wildcard's first label is part of the host, so such a request
// host matches only any-host routes.
const maxHostLen = 253

// hostBufLen is the stack buffer Lookup lowercases a request host into: room
// for maxHostLen bytes and for any IPv6 literal without a zone (at most 45).
const hostBufLen = 256

// hostKind is the host group a route belongs to.
type hostKind uint8

const (
	anyHost hostKind = iota
	exactHost
	wildcardHost
)

// canonicalRouteHost checks a route's Host and returns its key and kind: the
// lowercase host for an exact host, the lowercase suffix after "*." for a
// wildcard, "" for any host.
func canonicalRouteHost(host string) (key string, kind hostKind, err error) {
	if host == "" {
		return "", anyHost, nil
	}
	invalid := func(why string) (string, hostKind, error) {
		return "", 0, fmt.Errorf("%w %q: %s", ErrInvalidHost, host, why)
	}
	h := host
	bracketed := strings.HasPrefix(h, "[")
	if bracketed {
		if !strings.HasSuffix(h, "]") {
			return invalid("a bracketed IPv6 address must end with ']' and carry no port")
		}
		h = h[1 : len(h)-1]
	}
	if bracketed || strings.Contains(h, ":") {
		addr, perr := netip.ParseAddr(h)
		switch {
		case perr != nil || !addr.Is6():
			return invalid("neither a host name nor an IPv6 address (a route host carries no port)")
		case addr.Zone() != "":
			return invalid("an IPv6 zone is not supported")
		}
		return addr.String(), exactHost, nil
	}

	h = strings.TrimSuffix(h, ".")
	kind = exactHost
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		kind, h = wildcardHost, rest
	}
	switch {
	case h == "":
		return invalid("no host name")
	case len(h) > maxHostLen, kind == wildcardHost && len(h)+2 > maxHostLen:
		return invalid(fmt.Sprintf("longer than %d bytes", maxHostLen))
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" {
			return invalid("empty label")
		}
	}
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c == '*':
			return invalid("'*' is allowed only as the whole first label, as in \"*.example.com\"")
		case c <= ' ' || c == 0x7f:
			return invalid("contains a space or control character")
		case strings.IndexByte(`/\?#@[]%`, c) >= 0:
			return invalid(fmt.Sprintf("contains %q", c))
		}
	}
	return lowerASCII(h), kind, nil
}

// canonicalRequestHost writes the canonical form of a request's Host into buf
// and returns it: port and brackets removed, one trailing dot dropped, ASCII
// lowercased, IPv6 literals in canonical form. ipv6 reports an IPv6 literal
// (which no wildcard matches). matchable is false when no exact or wildcard
// route can match: the host is too long, or holds ':' but is no IPv6 address
// (route hosts never hold ':' otherwise), or has an IPv6 zone.
func canonicalRequestHost(host string, buf *[hostBufLen]byte) (h []byte, ipv6, matchable bool) {
	s := host
	if strings.HasPrefix(s, "[") {
		if end := strings.IndexByte(s, ']'); end > 0 {
			s = s[1:end]
		}
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		s = s[:i] // name or IPv4 with a port; two or more colons: a bare IPv6 address
	}
	if strings.IndexByte(s, ':') >= 0 {
		addr, err := netip.ParseAddr(s)
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return nil, false, false
		}
		return addr.AppendTo(buf[:0]), true, true
	}
	s = strings.TrimSuffix(s, ".")
	if len(s) > maxHostLen {
		return nil, false, false
	}
	n := copy(buf[:], s)
	for i := 0; i < n; i++ {
		if c := buf[i]; 'A' <= c && c <= 'Z' {
			buf[i] = c + ('a' - 'A')
		}
	}
	return buf[:n], false, true
}

// lowerASCII lowercases ASCII letters only: host names are ASCII (punycode),
// and Unicode case folding could map two different byte strings together.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
