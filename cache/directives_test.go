package cache

import (
	"net/http"
	"strings"
	"testing"
)

func TestNextDirective(t *testing.T) {
	type tok struct{ name, arg string }
	tests := []struct {
		in   string
		want []tok
	}{
		{"max-age=60", []tok{{"max-age", "60"}}},
		{" public , max-age = 60 ,,", []tok{{"public", ""}, {"max-age", "60"}}},
		{`no-cache="Set-Cookie, X", private`, []tok{{"no-cache", "Set-Cookie, X"}, {"private", ""}}},
		{`a="x\"y",b`, []tok{{"a", `x\"y`}, {"b", ""}}},
		{`a="unterminated`, []tok{{"a", "unterminated"}}},
		{"=5,x", []tok{{"x", ""}}},
		{"", nil},
		{" , , ", nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var got []tok
			for rest := tc.in; rest != ""; {
				var n, a string
				n, a, rest = nextDirective(rest)
				if n != "" {
					got = append(got, tok{n, a})
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func TestParseSeconds(t *testing.T) {
	tests := []struct {
		in string
		n  int64
		ok bool
	}{
		{"0", 0, true}, {"60", 60, true}, {"", 0, false}, {"-1", 0, false}, {"1.5", 0, false},
		{"99999999999999999999999", maxDeltaSeconds, true}, {"2147483648", maxDeltaSeconds, true},
	}
	for _, tc := range tests {
		n, ok := parseSeconds(tc.in)
		if n != tc.n || ok != tc.ok {
			t.Errorf("parseSeconds(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.n, tc.ok)
		}
	}
}

func TestParseRequestDirectives(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want requestDirectives
	}{
		{"none", http.Header{}, requestDirectives{maxAge: absent, maxStale: absent, minFresh: absent}},
		{"all", http.Header{"Cache-Control": {"No-Cache, no-store", "max-age=5, max-stale=7, min-fresh=3, only-if-cached"}},
			requestDirectives{maxAge: 5, maxStale: 7, minFresh: 3, noCache: true, noStore: true, onlyIfCached: true}},
		{"bare max-stale", http.Header{"Cache-Control": {"max-stale"}},
			requestDirectives{maxAge: absent, maxStale: maxDeltaSeconds, minFresh: absent}},
		{"first max-age wins", http.Header{"Cache-Control": {"max-age=5, max-age=50"}},
			requestDirectives{maxAge: 5, maxStale: absent, minFresh: absent}},
		{"invalid max-age is 0", http.Header{"Cache-Control": {"max-age=soon"}},
			requestDirectives{maxAge: 0, maxStale: absent, minFresh: absent}},
		{"pragma", http.Header{"Pragma": {"no-cache"}},
			requestDirectives{maxAge: absent, maxStale: absent, minFresh: absent, noCache: true}},
		{"pragma ignored with cache-control", http.Header{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=9"}},
			requestDirectives{maxAge: 9, maxStale: absent, minFresh: absent}},
		{"unterminated quote: field ignored", http.Header{"Cache-Control": {`no-store, max-age=5, x="open, only-if-cached`}},
			requestDirectives{maxAge: absent, maxStale: absent, minFresh: absent}},
		{"unterminated on a second line", http.Header{"Cache-Control": {"no-cache", `x="a\"`}},
			requestDirectives{maxAge: absent, maxStale: absent, minFresh: absent}},
		{"invalid field: pragma counts", http.Header{"Pragma": {"no-cache"}, "Cache-Control": {`max-age=9, a="`}},
			requestDirectives{maxAge: absent, maxStale: absent, minFresh: absent, noCache: true}},
		{"escaped quote closes later", http.Header{"Cache-Control": {`x="a\"b", max-age=3`}},
			requestDirectives{maxAge: 3, maxStale: absent, minFresh: absent}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseRequestDirectives(tc.h); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseResponseDirectives(t *testing.T) {
	tests := []struct {
		name string
		cc   string
		want responseDirectives
	}{
		{"none", "", responseDirectives{maxAge: absent, sMaxAge: absent}},
		{"shared", "public, max-age=60, s-maxage=600, must-revalidate, proxy-revalidate, immutable",
			responseDirectives{maxAge: 60, sMaxAge: 600, public: true, mustRevalidate: true, proxyRevalidate: true, immutable: true}},
		{"private qualified", `private="X-User", no-cache="Set-Cookie", no-store`,
			responseDirectives{maxAge: absent, sMaxAge: absent, private: true, noCache: true, noStore: true}},
		{"quoted max-age", `max-age="30"`, responseDirectives{maxAge: 30, sMaxAge: absent}},
		{"bad s-maxage", `s-maxage=x`, responseDirectives{maxAge: absent, sMaxAge: 0}},
		{"unterminated quote", `public, max-age=600, community="UCI`,
			responseDirectives{maxAge: 600, sMaxAge: absent, public: true, invalid: true}},
		{"trailing escape", `max-age=60, x="a\`, responseDirectives{maxAge: 60, sMaxAge: absent, invalid: true}},
		{"escaped quote inside", `no-cache="a\"b", max-age=60`, responseDirectives{maxAge: 60, sMaxAge: absent, noCache: true}},
		{"stale-while-revalidate", "max-age=1, stale-while-revalidate=30, stale-while-revalidate=5",
			responseDirectives{maxAge: 1, sMaxAge: absent, staleWhileRevalidate: 30}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.cc != "" {
				h.Set("Cache-Control", tc.cc)
			}
			if tc.want.staleWhileRevalidate == 0 {
				tc.want.staleWhileRevalidate = absent // the rows above predate it
			}
			if got := parseResponseDirectives(h); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzDirectives(f *testing.F) {
	for _, s := range []string{"max-age=60", `no-cache="a,b", private`, `a="\`, " , =,", "max-stale", `x="y"z, w`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		steps := 0
		for rest := s; rest != ""; steps++ {
			prev := rest
			var name string
			name, _, rest = nextDirective(rest)
			if len(rest) >= len(prev) {
				t.Fatalf("no progress on %q", prev)
			}
			if name != trimOWS(name) || strings.ContainsAny(name, ",=") {
				t.Fatalf("bad name %q from %q", name, prev)
			}
		}
		if steps > len(s) {
			t.Fatalf("%d steps for %d bytes", steps, len(s))
		}
		h := http.Header{"Cache-Control": {s}}
		rq := parseRequestDirectives(h)
		rs := parseResponseDirectives(h)
		if rs.invalid && rq != (requestDirectives{maxAge: absent, maxStale: absent, minFresh: absent}) {
			t.Fatalf("invalid field %q acted on: %+v", s, rq)
		}
		for _, n := range []int64{rq.maxAge, rq.maxStale, rq.minFresh, rs.maxAge, rs.sMaxAge} {
			if n < absent || n > maxDeltaSeconds {
				t.Fatalf("out of range %d from %q", n, s)
			}
		}
	})
}
