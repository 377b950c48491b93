package caddytest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

func TestCaddyfileDirective(t *testing.T) {
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	api := newBackend(t, "api", nil)
	tester := caddytest.NewTester(t)
	tester.InitServer(fmt.Sprintf(`
	{
		admin localhost:2999
		http_port 9080
		auto_https off
		log {
			level ERROR
		}
	}
	http://127.0.0.1:9080, http://localhost:9080 {
		bind 127.0.0.1
		smartproxy {
			to %s %s
			weight %s 2
			lb_policy round_robin
			timeout 5s
			retries 2
			route /api {
				to %s
			}
		}
	}`, b1.URL, b2.URL, b2.URL, api.URL), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	c := newClient()
	for range 4 {
		if code, body := get(t, c, "/"); code != 200 || (body != "b1" && body != "b2") {
			t.Fatalf("got %d %q", code, body)
		}
	}
	if b1.hits.Load() != 2 || b2.hits.Load() != 2 {
		t.Errorf("round robin: b1 %d, b2 %d hits, want 2 and 2", b1.hits.Load(), b2.hits.Load())
	}
	if code, body := get(t, c, "/api/users"); code != 200 || body != "api" {
		t.Errorf("route /api: got %d %q", code, body)
	}
}

func TestBadConfigsAreRefusedWithClearErrors(t *testing.T) {
	cases := []struct {
		name, handler string
		want          []string
	}{
		{"unknown key", `{"handler":"smartproxy","backends":[{"url":"http://127.0.0.1:1"}],"helth_check":{}}`,
			[]string{"helth_check"}},
		{"bad url", `{"handler":"smartproxy","backends":[{"url":"ftp://127.0.0.1:1"}]}`,
			[]string{"backends[0].url", "ftp://127.0.0.1:1"}},
		{"missing host", `{"handler":"smartproxy","backends":[{"url":"http://"}]}`,
			[]string{"backends[0].url", "missing host"}},
		{"negative weight", `{"handler":"smartproxy","backends":[{"url":"http://127.0.0.1:1","weight":-2}]}`,
			[]string{"backends[0].weight", "-2"}},
		{"all weights zero", `{"handler":"smartproxy","backends":[{"url":"http://127.0.0.1:1","weight":0}]}`,
			[]string{"backends", "weight is 0"}},
		{"unknown algorithm", `{"handler":"smartproxy","backends":[{"url":"http://127.0.0.1:1"}],"load_balancer":{"algorithm":"fastest"}}`,
			[]string{"load_balancer.algorithm", `"fastest"`}},
		{"duplicate backend", `{"handler":"smartproxy","backends":[{"url":"http://127.0.0.1:1"},{"url":"http://127.0.0.1:1/"}]}`,
			[]string{"backends[1].url", "duplicate"}},
		{"route without backends", `{"handler":"smartproxy","routes":[{"path":"/x"}]}`,
			[]string{"routes[0].backends"}},
		{"bad route path", `{"handler":"smartproxy","backends":[{"url":"http://127.0.0.1:1"}],"routes":[{"path":"x"}]}`,
			[]string{"routes[0].path", `"x"`}},
		{"negative timeout", `{"handler":"smartproxy","backends":[{"url":"http://127.0.0.1:1"}],"timeout":"-1s"}`,
			[]string{"timeout", "-1s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := loadError(t, serverJSON(tc.handler))
			for _, w := range tc.want {
				if !strings.Contains(err, w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBadCaddyfileIsRefused(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"unknown subdirective", "to 127.0.0.1:1\n lb_polcy round_robin", `unrecognized subdirective "lb_polcy"`},
		{"weight before to", "weight 127.0.0.1:1 2\n to 127.0.0.1:1", "not listed by `to`"},
		{"bad duration", "to 127.0.0.1:1\n timeout soon", `bad duration "soon"`},
		{"unknown block key", "to 127.0.0.1:1\n cache {\n maxsize 10\n }", `cache: unrecognized subdirective "maxsize"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := "{\n admin localhost:2999\n}\n:9080 {\n smartproxy {\n " + tc.body + "\n }\n}\n"
			err := loadErrorType(t, cfg, "caddyfile")
			if !strings.Contains(err, tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
