package cache

import (
	"net/http"
	"slices"
	"strings"
)

// keyBufSize is the stack buffer a key is built in; longer keys spill to
// the heap (one allocation).
const keyBufSize = 256

// DefaultKey appends the default primary cache key of r to dst:
//
//	GET <scheme>://<host><path>[?<query>]
//
// for example "GET https://example.com/a/b?x=1". The method is always GET
// because HEAD requests are answered from the stored GET response. The
// scheme is the connection's: https when r.TLS is set, else http. It is
// never r.URL.Scheme, which a client chooses: an absolute-form target
// ("GET https://host/a HTTP/1.1") sent over plain HTTP is keyed as http,
// as the backend sees it, so it cannot plant a response that HTTPS clients
// of the same URL would be served. The host is r.Host (or r.URL.Host),
// lower-cased; the path is escaped as the client sent it. This is the
// format Purge and PurgePrefix take.
func DefaultKey(dst []byte, r *http.Request) []byte {
	dst = appendKeyBase(dst, r)
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		dst = append(dst, '?')
		dst = append(dst, r.URL.RawQuery...)
	}
	return dst
}

// keyWithoutQuery is DefaultKey without the query string.
func keyWithoutQuery(dst []byte, r *http.Request) []byte {
	return appendKeyBase(dst, r)
}

func appendKeyBase(dst []byte, r *http.Request) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, requestScheme(r)...)
	dst = append(dst, "://"...)
	dst = appendLower(dst, requestHost(r))
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	return append(dst, path...)
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// varyNames returns the canonical, sorted, de-duplicated header names the
// Vary field lines of h list (nil when none). "*" is returned as is.
func varyNames(h http.Header) []string {
	var names []string
	for _, v := range h["Vary"] {
		for rest := v; rest != ""; {
			var name string
			name, _, rest = nextDirective(rest)
			if name == "" {
				continue
			}
			names = append(names, http.CanonicalHeaderKey(name))
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func varyStar(h http.Header) bool {
	for _, v := range h["Vary"] {
		if strings.Contains(v, "*") {
			return true
		}
	}
	return false
}

// caseInsensitiveVary lists the request fields whose values are compared
// without regard to case when they select a Vary variant, because their
// RFCs make every value in them case-insensitive: content-codings
// (RFC 9110 §8.4.1), charsets (§8.3.2) and language tags (RFC 5646 §2.1.1).
// Every other field is compared byte for byte: a value such as X-User:
// Alice must never select the variant stored for alice. The list is short
// on purpose; a field missing from it only costs hits, never correctness.
var caseInsensitiveVary = map[string]bool{
	"Accept-Encoding": true, "Accept-Charset": true, "Accept-Language": true,
}

// appendSecondaryKey appends the secondary key of r for the header names
// (RFC 9111 §4.1): for each name, "name:" then the request's field lines
// joined by commas, with whitespace around list separators (outside
// quoted strings) dropped, then '\n'; a field the request does not carry
// is "name\n", so an empty value and no field differ. Values keep their
// case except in the fields of caseInsensitiveVary. So Accept-Encoding
// "gzip, br" and "GZIP,br" select the same variant, while "gzip" and no
// Accept-Encoding at all select different ones, and so do X-User "Alice"
// and "alice".
func appendSecondaryKey(dst []byte, r *http.Request, names []string) []byte {
	for _, name := range names {
		dst = append(dst, name...)
		lines, fold := r.Header[name], caseInsensitiveVary[name]
		if lines == nil {
			dst = append(dst, '\n')
			continue
		}
		dst = append(dst, ':')
		for i, v := range lines {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendNormalisedList(dst, v, fold)
		}
		dst = append(dst, '\n')
	}
	return dst
}

// appendNormalisedList appends field value v with the optional whitespace
// around its commas removed, leaving quoted strings exactly as they are,
// and lower-cased when fold is set.
func appendNormalisedList(dst []byte, v string, fold bool) []byte {
	v = trimOWS(v)
	quoted := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quoted:
			if c == '\\' && i+1 < len(v) {
				dst = append(dst, c)
				i++
				c = v[i]
			} else if c == '"' {
				quoted = false
			}
		case c == '"':
			quoted = true
		case c == ',':
			for len(dst) > 0 && (dst[len(dst)-1] == ' ' || dst[len(dst)-1] == '\t') {
				dst = dst[:len(dst)-1]
			}
			dst = append(dst, ',')
			for i+1 < len(v) && (v[i+1] == ' ' || v[i+1] == '\t') {
				i++
			}
			continue
		case fold && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
