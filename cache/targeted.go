package cache

import (
	"net/http"
	"strings"
)

// Targeted cache control (RFC 9213). A response field named in Targets
// (CDN-Cache-Control by default) carries cache directives for this cache
// alone. The first target present with a valid, non-empty value is used,
// and the response's Cache-Control and Expires are then ignored for
// storing and freshness (RFC 9213 §2.2); Date and Age keep their meaning.
// A target is a Structured Field Dictionary (RFC 8941 §3.2): a value that
// does not parse as one (upper-case keys, an unterminated string, a bad
// number, ...) makes the field count as absent. A directive whose value
// has the wrong type (max-age="60", no-store=5) is ignored, as is a
// Boolean directive that is false. The fields are passed downstream
// unchanged unless StripTargets is set.

// defaultTargets is RFC 9213 §3's CDN-Cache-Control, for CDNs and other
// shared caches, in canonical form.
var defaultTargets = []string{"Cdn-Cache-Control"}

// sfKind is the type of a Structured Field bare item, as far as cache
// directives care.
type sfKind uint8

const (
	sfBool sfKind = iota
	sfInteger
	sfOther // decimal, string, token, byte sequence, inner list
)

// sfMember is one member of a parsed Dictionary.
type sfMember struct {
	key  string
	kind sfKind
	num  int64 // for sfInteger
	on   bool  // for sfBool
}

// parseSFDictionary parses lines, combined as one field value, as an RFC
// 8941 Dictionary. ok is false on any parse error. A key given twice keeps
// its last value.
func parseSFDictionary(lines []string) (members []sfMember, ok bool) {
	s := strings.Join(lines, ",")
	p := sfParser{s: strings.Trim(s, " ")}
	for p.i < len(p.s) {
		key, ok := p.key()
		if !ok {
			return nil, false
		}
		m := sfMember{key: key, kind: sfBool, on: true}
		if p.peek('=') {
			p.i++
			if p.peek('(') {
				if !p.innerList() {
					return nil, false
				}
				m.kind, m.on = sfOther, false
			} else if m.kind, m.num, m.on, ok = p.bareItem(); !ok {
				return nil, false
			}
		}
		if !p.params() {
			return nil, false
		}
		members = setMember(members, m)
		p.ows()
		if p.i == len(p.s) {
			return members, true
		}
		if !p.peek(',') {
			return nil, false
		}
		p.i++
		p.ows()
		if p.i == len(p.s) {
			return nil, false // a trailing comma
		}
	}
	return members, true
}

func setMember(ms []sfMember, m sfMember) []sfMember {
	for i := range ms {
		if ms[i].key == m.key {
			ms[i] = m
			return ms
		}
	}
	return append(ms, m)
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *sfParser) ows() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) sp() {
	for p.peek(' ') {
		p.i++
	}
}

// key: (lcalpha / "*") *(lcalpha / DIGIT / "_" / "-" / "." / "*").
func (p *sfParser) key() (string, bool) {
	start := p.i
	if p.i >= len(p.s) || !(p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] == '*') {
		return "", false
	}
	for p.i++; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
	}
	return p.s[start:p.i], true
}

// params: *( ";" *SP key [ "=" bare-item ] ).
func (p *sfParser) params() bool {
	for p.peek(';') {
		p.i++
		p.sp()
		if _, ok := p.key(); !ok {
			return false
		}
		if p.peek('=') {
			p.i++
			if _, _, _, ok := p.bareItem(); !ok {
				return false
			}
		}
	}
	return true
}

// innerList: "(" *SP [ item *( 1*SP item ) *SP ] ")" parameters.
func (p *sfParser) innerList() bool {
	p.i++ // "("
	for {
		p.sp()
		if p.peek(')') {
			p.i++
			return p.params()
		}
		if _, _, _, ok := p.bareItem(); !ok || !p.params() {
			return false
		}
		if !p.peek(' ') && !p.peek(')') {
			return false
		}
	}
}

// bareItem parses an Integer, Decimal, String, Token, Byte Sequence or
// Boolean.
func (p *sfParser) bareItem() (kind sfKind, num int64, on bool, ok bool) {
	if p.i >= len(p.s) {
		return 0, 0, false, false
	}
	switch c := p.s[p.i]; {
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == '"':
		for p.i++; p.i < len(p.s); p.i++ {
			switch c := p.s[p.i]; {
			case c == '\\':
				if p.i++; p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
					return 0, 0, false, false
				}
			case c == '"':
				p.i++
				return sfOther, 0, false, true
			case c < 0x20 || c > 0x7e:
				return 0, 0, false, false
			}
		}
		return 0, 0, false, false
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			p.i += 2
			return sfBool, 0, p.s[p.i-1] == '1', true
		}
		return 0, 0, false, false
	case c == ':':
		end := strings.IndexByte(p.s[p.i+1:], ':')
		if end < 0 {
			return 0, 0, false, false
		}
		for _, b := range []byte(p.s[p.i+1 : p.i+1+end]) {
			if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=') {
				return 0, 0, false, false
			}
		}
		p.i += end + 2
		return sfOther, 0, false, true
	case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '*':
		for p.i++; p.i < len(p.s) && isTokenChar(p.s[p.i]); p.i++ {
		}
		return sfOther, 0, false, true
	}
	return 0, 0, false, false
}

// number parses an Integer (at most 15 digits) or a Decimal (at most 12
// integer and 3 fractional digits).
func (p *sfParser) number() (sfKind, int64, bool, bool) {
	neg := p.peek('-')
	if neg {
		p.i++
	}
	start, n, dot := p.i, int64(0), -1
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		if c == '.' && dot < 0 {
			if p.i-start > 12 {
				return 0, 0, false, false
			}
			dot = p.i
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		if dot < 0 {
			n = n*10 + int64(c-'0')
		}
	}
	digits := p.i - start
	switch {
	case digits == 0 || (dot < 0 && digits > 15):
		return 0, 0, false, false
	case dot >= 0 && (dot == p.i-1 || p.i-dot-1 > 3):
		return 0, 0, false, false
	case dot >= 0:
		return sfOther, 0, false, true
	}
	if neg {
		n = -n
	}
	return sfInteger, n, false, true
}

// isTokenChar: tchar / ":" / "/".
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~:/", c) >= 0
}

// targetedDirectives returns the directives of the first of c's targets
// present in h with a valid, non-empty Dictionary value; ok is false when
// there is none, and Cache-Control applies.
func (c *Cache) targetedDirectives(h http.Header) (d responseDirectives, ok bool) {
	for _, name := range c.s.Targets {
		lines := h[name]
		if len(lines) == 0 {
			continue
		}
		members, valid := parseSFDictionary(lines)
		if !valid || len(members) == 0 {
			continue
		}
		d = responseDirectives{maxAge: absent, sMaxAge: absent, staleWhileRevalidate: absent, targeted: true}
		for _, m := range members {
			flag := m.kind == sfBool && m.on
			switch m.key {
			case "max-age":
				if m.kind == sfInteger && m.num >= 0 {
					d.maxAge = min(m.num, maxDeltaSeconds)
				}
			case "s-maxage":
				if m.kind == sfInteger && m.num >= 0 {
					d.sMaxAge = min(m.num, maxDeltaSeconds)
				}
			case "stale-while-revalidate":
				if m.kind == sfInteger && m.num >= 0 {
					d.staleWhileRevalidate = min(m.num, maxDeltaSeconds)
				}
			case "no-store":
				d.noStore = flag
			case "no-cache":
				d.noCache = flag || m.kind == sfOther // no-cache="field" counts as no-cache
			case "private":
				d.private = flag || m.kind == sfOther
			case "public":
				d.public = flag
			case "must-revalidate":
				d.mustRevalidate = flag
			case "proxy-revalidate":
				d.proxyRevalidate = flag
			case "immutable":
				d.immutable = flag
			}
		}
		return d, true
	}
	return responseDirectives{}, false
}

// responseDirectives are the directives this cache acts on for a response
// with header h: a targeted field's, else Cache-Control's.
func (c *Cache) responseDirectives(h http.Header) responseDirectives {
	if len(c.s.Targets) > 0 {
		if d, ok := c.targetedDirectives(h); ok {
			return d
		}
	}
	return parseResponseDirectives(h)
}
