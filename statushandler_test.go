package smartproxy

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestStatusHandlerCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		controls    bool
		wantErr     string
	}{
		{"bare", `smartproxy_status`, false, ""},
		{"controls", "smartproxy_status {\n controls\n}", true, ""},
		{"an argument", `smartproxy_status on`, false, "wrong argument count"},
		{"controls takes no argument", "smartproxy_status {\n controls yes\n}", false, "wrong argument count"},
		{"unknown subdirective", "smartproxy_status {\n buttons\n}", false, `unknown subdirective "buttons"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s StatusHandler
			err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || s.Controls != tc.controls {
				t.Fatalf("got %+v, %v; want controls %v", s, err, tc.controls)
			}
		})
	}
}

// The site's state API refuses what a page of another origin could send.
func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		refuse bool
	}{
		{"no browser headers (curl)", nil, false},
		{"this origin", map[string]string{"Origin": "http://status.test:2020", "Sec-Fetch-Site": "same-origin"}, false},
		{"this origin, host in capitals", map[string]string{"Origin": "http://STATUS.test:2020"}, false},
		{"another origin", map[string]string{"Origin": "http://evil.test"}, true},
		{"another port", map[string]string{"Origin": "http://status.test:2021"}, true},
		{"opaque origin", map[string]string{"Origin": "null"}, true},
		{"same site, other origin", map[string]string{"Sec-Fetch-Site": "same-site"}, true},
		{"cross site", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://status.test:2020/_status/backends/state", nil)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			if err := sameOrigin(r); (err != nil) != tc.refuse {
				t.Fatalf("sameOrigin = %v, want refused %v", err, tc.refuse)
			}
		})
	}
}

// Only a page served with controls has its buttons turned on.
func TestStatusPageControls(t *testing.T) {
	for _, tc := range []struct {
		h    StatusHandler
		want string
	}{{StatusHandler{}, `data-controls="off"`}, {StatusHandler{Controls: true}, `data-controls="on"`}} {
		w := httptest.NewRecorder()
		if err := tc.h.ServeHTTP(w, httptest.NewRequest("GET", "/_status/", nil), nil); err != nil {
			t.Fatal(err)
		}
		if body := w.Body.String(); !strings.Contains(body, tc.want) {
			t.Errorf("controls %v: page lacks %s", tc.h.Controls, tc.want)
		}
	}
	// Without controls the state API is not there.
	w := httptest.NewRecorder()
	err := StatusHandler{}.ServeHTTP(w, httptest.NewRequest("POST", "/_status/backends/state", strings.NewReader(`{}`)), nil)
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST without controls: %v, want 405", err)
	}
}
