package forward

import (
	"errors"
	"strings"
)

// Path normalisation. Every consumer of a request's path (the router,
// rate-limit routes, cache keys, the path sent to a backend) must see the
// same bytes, or an attacker picks the spelling that one of them reads
// differently: `/./login` dodges a limit on `/login`, `/public/../private`
// leaves a backend's prefix. So the path is normalised once, on arrival,
// and the result replaces the request's own.

// Errors of CleanPath; each is the client's fault (400).
var (
	// ErrPathEscape refuses a path whose dot segments climb above the
	// root ("/../x"): forwarded, it would leave the backend's prefix.
	ErrPathEscape = errors.New("path climbs above the root")
	// ErrPathEncoding refuses a malformed percent-escape ("%zz", "%4").
	ErrPathEncoding = errors.New("malformed percent-encoding in path")
	// ErrPathControl refuses a path that decodes to a NUL or another
	// control character.
	ErrPathControl = errors.New("control character in path")
	// ErrPathHiddenDots refuses a segment that hides a dot segment behind
	// an encoded separator ("..%2F", "..%5C", `..\`): a backend that
	// decodes it, or that takes a backslash for a slash, would climb.
	ErrPathHiddenDots = errors.New("dot segment hidden behind an encoded separator")
	// ErrPathForm refuses a path that does not start with "/".
	ErrPathForm = errors.New("path must start with /")
)

// CleanPath returns the normal form of an escaped request path (as
// url.URL.EscapedPath gives it), or an error when the path is refused.
//
// The rules, applied in one pass:
//   - A percent-escape of an unreserved character (ALPHA, DIGIT, "-", ".",
//     "_", "~") is decoded ("%61dmin" is "admin", "%2e%2e" is ".."); every
//     other escape is kept, with upper-case hex. A malformed escape is
//     refused.
//   - "%2F" (an encoded slash) stays encoded: it is data inside a segment,
//     not a separator. A segment that would be a dot segment once "%2F",
//     "%5C" or a backslash is read as a separator ("..%2F..") is refused,
//     since a backend may read it that way.
//   - Dot segments are removed (RFC 3986 §5.2.4); a ".." with nothing left
//     to remove climbs above the root and is refused.
//   - Empty segments ("//") are merged, as nginx's merge_slashes does; a
//     trailing slash is kept ("/a/." is "/a/").
//   - A path that decodes to a control character (NUL, CR, LF, ...) is
//     refused.
//
// "*" (the asterisk-form of OPTIONS) and an already normal path are
// returned as given without allocating.
func CleanPath(p string) (string, error) {
	if p == "*" {
		return p, nil
	}
	if p == "" {
		return "/", nil
	}
	if p[0] != '/' {
		return "", ErrPathForm
	}
	if isClean(p) {
		return p, nil
	}
	var segs []string
	rest := p[1:]
	trailing := false
	for {
		seg, more, found := strings.Cut(rest, "/")
		seg, err := normalizeSegment(seg)
		if err != nil {
			return "", err
		}
		switch seg {
		case ".":
			trailing = true
		case "..":
			if len(segs) == 0 {
				return "", ErrPathEscape
			}
			segs = segs[:len(segs)-1]
			trailing = true
		case "":
			trailing = true
		default:
			if err := checkHiddenDots(seg); err != nil {
				return "", err
			}
			segs = append(segs, seg)
			trailing = false
		}
		if !found {
			break
		}
		rest = more
	}
	var b strings.Builder
	b.Grow(len(p))
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if trailing || len(segs) == 0 {
		b.WriteByte('/')
	}
	return b.String(), nil
}

// isClean reports whether p (starting with "/") needs no work: no escape,
// no backslash, no control byte, no empty segment and no segment that
// starts with a dot.
func isClean(p string) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '%' || c == '\\' || c < 0x20 || c == 0x7f:
			return false
		case c == '/' && i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.'):
			return false
		}
	}
	return true
}

// normalizeSegment decodes the escapes of unreserved characters in seg and
// upper-cases the hex of the others.
func normalizeSegment(seg string) (string, error) {
	if !strings.ContainsAny(seg, "%\x7f") && !hasControl(seg) {
		return seg, nil
	}
	b := make([]byte, 0, len(seg))
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c < 0x20 || c == 0x7f {
			return "", ErrPathControl
		}
		if c != '%' {
			b = append(b, c)
			continue
		}
		if i+2 >= len(seg) {
			return "", ErrPathEncoding
		}
		hi, ok1 := unhex(seg[i+1])
		lo, ok2 := unhex(seg[i+2])
		if !ok1 || !ok2 {
			return "", ErrPathEncoding
		}
		d := hi<<4 | lo
		switch {
		case d < 0x20 || d == 0x7f:
			return "", ErrPathControl
		case unreserved(d):
			b = append(b, d)
		default:
			b = append(b, '%', upperHex[d>>4], upperHex[d&15])
		}
		i += 2
	}
	return string(b), nil
}

// checkHiddenDots refuses a segment that holds a dot segment once encoded
// slashes and backslashes are read as separators.
func checkHiddenDots(seg string) error {
	if !strings.Contains(seg, ".") {
		return nil
	}
	if !strings.Contains(seg, "%2F") && !strings.Contains(seg, "%5C") && !strings.Contains(seg, `\`) {
		return nil
	}
	r := strings.NewReplacer("%2F", "/", "%5C", "/", `\`, "/")
	for part := range strings.SplitSeq(r.Replace(seg), "/") {
		if part == "." || part == ".." {
			return ErrPathHiddenDots
		}
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

const upperHex = "0123456789ABCDEF"
