package smartproxy

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/forward"
)

func TestCleanRequestPath(t *testing.T) {
	tests := []struct {
		target         string
		path, raw, uri string
		err            error
	}{
		{target: "/login", path: "/login", uri: "/login"},
		{target: "/./login?x=1", path: "/login", uri: "/login?x=1"},
		{target: "//login", path: "/login", uri: "/login"},
		{target: "/x/../login", path: "/login", uri: "/login"},
		{target: "/a%2Fb/../c", path: "/c", uri: "/c"},
		{target: "/a%2fb", path: "/a/b", raw: "/a%2Fb", uri: "/a%2Fb"},
		{target: "/%61dmin/", path: "/admin/", uri: "/admin/"},
		{target: "/../private/secret.txt", err: forward.ErrPathEscape},
		{target: "/%2e%2e/private/secret.txt", err: forward.ErrPathEscape},
		{target: "/a/..%2f..%2fprivate", err: forward.ErrPathHiddenDots},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.target, nil)
			err := cleanRequestPath(r)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.URL.Path != tc.path || r.URL.RawPath != tc.raw || r.RequestURI != tc.uri {
				t.Fatalf("path %q raw %q uri %q; want %q %q %q", r.URL.Path, r.URL.RawPath, r.RequestURI, tc.path, tc.raw, tc.uri)
			}
		})
	}
}

func TestCleanRequestPathNormalDoesNotAllocate(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/users?id=3", nil)
	if n := testing.AllocsPerRun(100, func() { _ = cleanRequestPath(r) }); n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
}

func TestCheckMethod(t *testing.T) {
	for m, ok := range map[string]bool{
		"GET": true, "POST": true, "get": true, "PROPFIND": true, "X-Custom_1": true,
		"": false, "GET /admin": false, "GET\t/admin": false, "GET,POST": false, "G\xc3\xa9T": false,
		"GET\r\nX: y": false, "(GET)": false,
	} {
		if err := checkMethod(m); (err == nil) != ok || (err != nil && !errors.Is(err, errMethod)) {
			t.Errorf("checkMethod(%q) = %v, want ok %v", m, err, ok)
		}
	}
}

// The common methods cost no allocation.
func BenchmarkCheckMethod(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range [...]string{"GET", "POST", "OPTIONS"} {
			if checkMethod(m) != nil {
				b.Fatal(m)
			}
		}
	}
}

func TestCheckQuery(t *testing.T) {
	for q, ok := range map[string]bool{
		"": true, "a=1&b=2": true, "a=b%20c": true, "a=%E2%82%AC": true, "a=\xe2\x82\xac": true,
		"a=b HTTP/1.1": false, "x /admin": false, "a=b\tc": false, "a\x00": false, "a\x7f": false, " ": false,
	} {
		if err := checkQuery(q); (err == nil) != ok || (err != nil && !errors.Is(err, errQuery)) {
			t.Errorf("checkQuery(%q) = %v, want ok %v", q, err, ok)
		}
	}
}
