package router

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// The reference below restates the package's rules as plainly as possible:
// canonical hosts with the standard library, and a linear scan for the
// longest prefix. FuzzLookup checks the Router against it.

// refRequestHost is the request host as the package doc defines it.
func refRequestHost(host string) (h string, ipv6, matchable bool) {
	switch {
	case strings.HasPrefix(host, "[") && strings.Contains(host, "]"):
		h = host[1:strings.Index(host, "]")]
	case !strings.HasPrefix(host, "[") && strings.Count(host, ":") == 1:
		h, _, _ = strings.Cut(host, ":")
	default:
		h = host
	}
	if strings.Contains(h, ":") {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", false, false
		}
		return a.String(), true, true
	}
	h = strings.TrimSuffix(h, ".")
	if len(h) > 253 {
		return "", false, false
	}
	return refLower(h), false, true
}

// refRouteHost is the key and kind of a route host New accepted.
func refRouteHost(host string) (string, hostKind) {
	if host == "" {
		return "", anyHost
	}
	if strings.Contains(host, ":") {
		return netip.MustParseAddr(strings.Trim(host, "[]")).String(), exactHost
	}
	h := refLower(strings.TrimSuffix(host, "."))
	if strings.HasPrefix(h, "*.") {
		return h[2:], wildcardHost
	}
	return h, exactHost
}

func refLower(s string) string {
	var b strings.Builder
	for _, r := range []byte(s) {
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		b.WriteByte(r)
	}
	return b.String()
}

func refPrefix(p string) string { return strings.TrimSuffix(p, "/") }

func refPathMatch(prefix, path string) bool {
	p := refPrefix(prefix)
	return p == "" || path == p || strings.HasPrefix(path, p+"/")
}

// refLookup scans every route, group by group.
func refLookup(routes []Route[int], host, path string) (int, bool) {
	h, ipv6, matchable := refRequestHost(host)
	for _, kind := range []hostKind{exactHost, wildcardHost, anyHost} {
		best, bestLen := -1, -1
		for _, rt := range routes {
			key, k := refRouteHost(rt.Host)
			if k != kind {
				continue
			}
			switch kind {
			case exactHost:
				if !matchable || h != key {
					continue
				}
			case wildcardHost:
				label, rest, found := strings.Cut(h, ".")
				if !matchable || ipv6 || !found || label == "" || rest != key {
					continue
				}
			}
			if refPathMatch(rt.Path, path) && len(refPrefix(rt.Path)) > bestLen {
				best, bestLen = rt.Value, len(refPrefix(rt.Path))
			}
		}
		if best >= 0 {
			return best, true
		}
	}
	return 0, false
}

// refHasDuplicate reports whether two routes match the same requests.
func refHasDuplicate(routes []Route[int]) bool {
	seen := map[[3]string]bool{}
	for _, rt := range routes {
		key, kind := refRouteHost(rt.Host)
		k := [3]string{string(rune('0' + kind)), key, refPrefix(rt.Path)}
		if seen[k] {
			return true
		}
		seen[k] = true
	}
	return false
}

var (
	fuzzRouteHosts = []string{"", "a.com", "A.COM", "b.a.com", "*.a.com", "*.b.a.com", "*.com", "[::1]", "0::1", "x.y"}
	fuzzQueryHosts = []string{"", "a.com", "a.com:80", "A.com.", "b.a.com", "B.A.COM:1", "c.b.a.com", ".a.com",
		"[::1]:8080", "::1", "[0::1]", "q.com", "x.y", "z.x.y"}
	fuzzSegments = []string{"a", "b", "ab", "a-"}
)

// fuzzPath makes a path of up to four segments from a small alphabet, so
// that generated routes share, nest and collide.
func fuzzPath(n, bits byte) string {
	var b strings.Builder
	for i := range int(n % 5) {
		b.WriteString("/")
		b.WriteString(fuzzSegments[(bits>>(2*i))&3])
	}
	if n&0x80 != 0 {
		b.WriteString("/")
	}
	return b.String()
}

func FuzzLookup(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 2, 3, 4, 4, 0xff}, "a.com", "/a/b", "", "/")
	f.Add([]byte{3, 0x81, 5, 4, 2, 7, 0, 3, 1}, "B.a.com:9", "/ab/a-/x", "*.x.y", "/a")
	f.Add([]byte{7, 4, 0, 8, 3, 3, 1, 1, 1}, "[::1]:1", "/a-", "[::1]", "/a/b/")
	f.Add([]byte{}, "", "", "bad host", "nope")
	f.Fuzz(func(t *testing.T, data []byte, qhost, qpath, xhost, xpath string) {
		var routes []Route[int]
		for i := 0; i+2 < len(data) && len(routes) < 64; i += 3 {
			routes = append(routes, Route[int]{
				Host:  fuzzRouteHosts[int(data[i])%len(fuzzRouteHosts)],
				Path:  fuzzPath(data[i+1], data[i+2]),
				Value: len(routes),
			})
		}
		routes = append(routes, Route[int]{Host: xhost, Path: xpath, Value: len(routes)})
		r, err := New(routes)
		if errors.Is(err, ErrInvalidHost) || errors.Is(err, ErrInvalidPath) {
			// Only the fuzzed route can be invalid, and the error names it.
			if !strings.Contains(err.Error(), strconv.Quote(xhost)) && !strings.Contains(err.Error(), strconv.Quote(xpath)) {
				t.Fatalf("error %q names neither %q nor %q", err, xhost, xpath)
			}
			routes = routes[:len(routes)-1]
			r, err = New(routes)
		}
		dup := refHasDuplicate(routes)
		switch {
		case err != nil && !(dup && errors.Is(err, ErrDuplicateRoute)):
			t.Fatalf("New(%+v) = %v; reference duplicate = %v", routes, err, dup)
		case err == nil && dup:
			t.Fatalf("New(%+v) missed a duplicate", routes)
		case err != nil:
			return
		}

		check := func(host, path string) {
			got, ok := r.Lookup(host, path)
			want, wantOK := refLookup(routes, host, path)
			if got != want || ok != wantOK {
				t.Fatalf("Lookup(%q, %q) = %d, %v; reference %d, %v; routes %+v", host, path, got, ok, want, wantOK, routes)
			}
		}
		check(qhost, qpath)
		check(xhost, qpath)
		for _, h := range fuzzQueryHosts {
			check(h, qpath)
			for _, rt := range routes {
				check(h, rt.Path)
				check(h, rt.Path+qpath)
			}
		}
	})
}
