package smartproxy

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestRemoveHopHeaders(t *testing.T) {
	h := http.Header{
		"Connection":        {"X-A, x-b", "close"},
		"X-A":               {"1"},
		"X-B":               {"2"},
		"Keep-Alive":        {"timeout=5"},
		"Proxy-Connection":  {"keep-alive"},
		"Transfer-Encoding": {"chunked"},
		"Te":                {"trailers"},
		"Upgrade":           {"websocket"},
		"X-Keep":            {"yes"},
	}
	removeHopHeaders(h)
	if want := (http.Header{"X-Keep": {"yes"}}); !reflect.DeepEqual(h, want) {
		t.Fatalf("got %v, want %v", h, want)
	}
}

func TestUpgradeType(t *testing.T) {
	cases := []struct {
		h    http.Header
		want string
	}{
		{http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, "websocket"},
		{http.Header{"Connection": {"keep-alive, upgrade"}, "Upgrade": {"h2c"}}, "h2c"},
		{http.Header{"Upgrade": {"websocket"}}, ""},
		{http.Header{"Connection": {"close"}, "Upgrade": {"websocket"}}, ""},
	}
	for _, tc := range cases {
		if got := upgradeType(tc.h); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.h, got, tc.want)
		}
	}
}

func TestSetForwarded(t *testing.T) {
	cases := []struct {
		name       string
		trusted    bool
		tls        bool
		in         http.Header
		xff, proto string
		xfh        string
	}{
		{"untrusted client's forgeries are replaced", false, false,
			http.Header{"X-Forwarded-For": {"6.6.6.6"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil"}},
			"192.0.2.7", "http", "example.com"},
		{"trusted proxy's values are extended", true, false,
			http.Header{"X-Forwarded-For": {"203.0.113.1"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"orig.example"}},
			"203.0.113.1, 192.0.2.7", "https", "orig.example"},
		{"tls sets https", false, true, http.Header{}, "192.0.2.7", "https", "example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://example.com/", nil)
			r.RemoteAddr = "192.0.2.7:1234"
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			vars := map[string]any{caddyhttp.TrustedProxyVarKey: tc.trusted}
			r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
			out := tc.in.Clone()
			setForwarded(out, r, new([2]string))
			if got := out.Get("X-Forwarded-For"); got != tc.xff {
				t.Errorf("X-Forwarded-For %q, want %q", got, tc.xff)
			}
			if got := out.Get("X-Forwarded-Proto"); got != tc.proto {
				t.Errorf("X-Forwarded-Proto %q, want %q", got, tc.proto)
			}
			if got := out.Get("X-Forwarded-Host"); got != tc.xfh {
				t.Errorf("X-Forwarded-Host %q, want %q", got, tc.xfh)
			}
		})
	}
}
