package cache

import (
	"net/http"
	"strings"
)

// maxDeltaSeconds is the value RFC 9111 §1.2.2 says to use for any
// delta-seconds that overflows: 2^31.
const maxDeltaSeconds = 1 << 31

// absent marks a numeric directive that was not present.
const absent = -1

// nextDirective splits the first directive off a Cache-Control field value
// s (RFC 9111 §5.2): name, its argument with any quotes removed (escapes are
// left as they are; no directive we read needs them), and the rest of s
// after the separating comma. Names are returned as written; callers compare
// them case-insensitively. An empty name means "skip". It never allocates
// and always returns a rest shorter than s when s is not empty. An
// unterminated quoted argument is returned as it stands; callers that act
// on Cache-Control use scanDirective, which reports it.
func nextDirective(s string) (name, arg, rest string) {
	name, arg, rest, _ = scanDirective(s)
	return name, arg, rest
}

// scanDirective is nextDirective that also reports a malformed directive:
// bad is true when the argument opens a quoted string that never closes
// (a final backslash escapes nothing and does not close it either).
//
// Such a field is not acted on piecemeal, since what follows an
// unterminated quote is anyone's guess: a response carrying one is not
// stored (the safe reading of directives we cannot read), and a request's
// is ignored as if it had none (so Pragma: no-cache still counts).
func scanDirective(s string) (name, arg, rest string, bad bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
		i++
	}
	s = s[i:]
	j := 0
	for j < len(s) && s[j] != '=' && s[j] != ',' {
		j++
	}
	name = trimOWS(s[:j])
	if j == len(s) {
		return name, "", "", false
	}
	if s[j] == ',' {
		return name, "", s[j+1:], false
	}
	s = trimOWS(s[j+1:])
	if len(s) > 0 && s[0] == '"' {
		k := 1
		for k < len(s) && s[k] != '"' {
			if s[k] == '\\' {
				k++
			}
			k++
		}
		if k >= len(s) { // unterminated
			return name, s[1:], "", true
		}
		arg, s = s[1:k], s[k+1:]
		if c := strings.IndexByte(s, ','); c >= 0 {
			return name, arg, s[c+1:], false
		}
		return name, arg, "", false
	}
	if c := strings.IndexByte(s, ','); c >= 0 {
		return name, trimOWS(s[:c]), s[c+1:], false
	}
	return name, s, "", false
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseSeconds reads a delta-seconds argument. ok is false when arg is not
// a non-empty run of digits; overflow saturates at maxDeltaSeconds.
func parseSeconds(arg string) (n int64, ok bool) {
	if arg == "" {
		return 0, false
	}
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDeltaSeconds {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxDeltaSeconds), true
}

// requestDirectives are the request Cache-Control directives a shared cache
// acts on (RFC 9111 §5.2.1). Numeric fields are in seconds, absent when
// missing.
type requestDirectives struct {
	maxAge, maxStale, minFresh     int64
	noCache, noStore, onlyIfCached bool
}

// parseRequestDirectives reads every Cache-Control field line of h, and
// Pragma: no-cache when there is no Cache-Control (RFC 9111 §5.4). An
// invalid Cache-Control (see scanDirective) counts as none. The
// first occurrence of a numeric directive wins; an invalid max-age counts as
// 0 (the conservative reading) and an invalid max-stale or min-fresh is
// ignored.
func parseRequestDirectives(h http.Header) requestDirectives {
	d := requestDirectives{maxAge: absent, maxStale: absent, minFresh: absent}
	values := h["Cache-Control"]
	for _, v := range values {
		for rest := v; rest != ""; {
			var name, arg string
			var bad bool
			name, arg, rest, bad = scanDirective(rest)
			switch {
			case bad:
				return pragmaDirectives(h)
			case name == "":
			case strings.EqualFold(name, "no-cache"):
				d.noCache = true
			case strings.EqualFold(name, "no-store"):
				d.noStore = true
			case strings.EqualFold(name, "only-if-cached"):
				d.onlyIfCached = true
			case strings.EqualFold(name, "max-age"):
				if d.maxAge == absent {
					d.maxAge, _ = parseSeconds(arg)
				}
			case strings.EqualFold(name, "max-stale"):
				if d.maxStale == absent {
					if arg == "" {
						d.maxStale = maxDeltaSeconds // any staleness
					} else if n, ok := parseSeconds(arg); ok {
						d.maxStale = n
					}
				}
			case strings.EqualFold(name, "min-fresh"):
				if d.minFresh == absent {
					if n, ok := parseSeconds(arg); ok {
						d.minFresh = n
					}
				}
			}
		}
	}
	if len(values) == 0 {
		return pragmaDirectives(h)
	}
	return d
}

// pragmaDirectives are the request directives when Cache-Control is absent
// (or invalid): only Pragma: no-cache counts.
func pragmaDirectives(h http.Header) requestDirectives {
	d := requestDirectives{maxAge: absent, maxStale: absent, minFresh: absent}
	for _, p := range h["Pragma"] {
		for rest := p; rest != ""; {
			var name string
			name, _, rest = nextDirective(rest)
			if strings.EqualFold(name, "no-cache") {
				d.noCache = true
			}
		}
	}
	return d
}

// responseDirectives are the response Cache-Control directives a shared
// cache acts on (RFC 9111 §5.2.2).
type responseDirectives struct {
	maxAge, sMaxAge                   int64
	staleWhileRevalidate              int64 // RFC 5861, seconds
	noStore, noCache, private, public bool
	mustRevalidate, proxyRevalidate   bool
	immutable                         bool
	invalid                           bool // a malformed field: never stored
	targeted                          bool // from a targeted field: Expires is ignored
}

// parseResponseDirectives reads every Cache-Control field line of h. An
// invalid max-age or s-maxage counts as 0, so the response is stale at once
// (RFC 9111 §4.2.1 allows treating it so). Qualified no-cache="field" and
// private="field" are treated as their unqualified forms: stricter than
// required, never wrong. A malformed field (see scanDirective) sets
// invalid, and the response is not stored.
func parseResponseDirectives(h http.Header) responseDirectives {
	d := responseDirectives{maxAge: absent, sMaxAge: absent, staleWhileRevalidate: absent}
	for _, v := range h["Cache-Control"] {
		for rest := v; rest != ""; {
			var name, arg string
			var bad bool
			name, arg, rest, bad = scanDirective(rest)
			d.invalid = d.invalid || bad
			switch {
			case name == "":
			case strings.EqualFold(name, "no-store"):
				d.noStore = true
			case strings.EqualFold(name, "no-cache"):
				d.noCache = true
			case strings.EqualFold(name, "private"):
				d.private = true
			case strings.EqualFold(name, "public"):
				d.public = true
			case strings.EqualFold(name, "must-revalidate"):
				d.mustRevalidate = true
			case strings.EqualFold(name, "proxy-revalidate"):
				d.proxyRevalidate = true
			case strings.EqualFold(name, "immutable"):
				d.immutable = true
			case strings.EqualFold(name, "max-age"):
				if d.maxAge == absent {
					d.maxAge, _ = parseSeconds(arg)
				}
			case strings.EqualFold(name, "s-maxage"):
				if d.sMaxAge == absent {
					d.sMaxAge, _ = parseSeconds(arg)
				}
			case strings.EqualFold(name, "stale-while-revalidate"):
				if n, ok := parseSeconds(arg); ok && d.staleWhileRevalidate == absent {
					d.staleWhileRevalidate = n
				}
			}
		}
	}
	return d
}
