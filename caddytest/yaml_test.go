package caddytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// seedYAML is examples/config.yaml with its ports moved onto the test's:
// the proxy on 9080, the two backends on the given servers, and an admin
// section for the test's Caddy.
func seedYAML(t *testing.T, b1, b2 *backend) string {
	t.Helper()
	raw, err := os.ReadFile("../examples/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for old, new := range map[string]string{
		"port: 8080":            "port: 9080\n  host: 127.0.0.1",
		"http://localhost:3001": b1.URL,
		"http://localhost:3002": b2.URL,
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("examples/config.yaml no longer contains %q", old)
		}
		s = strings.Replace(s, old, new, 1)
	}
	return s + "\nadmin: localhost:2999\nlogging: error\n"
}

func postYAML(t *testing.T, cfg string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://localhost:2999/load", "application/yaml", strings.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var apiErr struct{ Error string }
	if json.Unmarshal(body, &apiErr) == nil && apiErr.Error != "" {
		return resp.StatusCode, apiErr.Error
	}
	return resp.StatusCode, string(body)
}

func TestSeedYAMLServes(t *testing.T) {
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	tester := caddytest.NewTester(t)
	tester.InitServer(seedYAML(t, b1, b2), "yaml")
	if t.Failed() {
		t.FailNow()
	}
	c := newClient()
	for i := range 6 {
		// The seed's cache keeps responses without freshness for 300s
		// (ttl): vary the path so every request reaches a backend.
		code, body := get(t, c, fmt.Sprintf("/page/%d", i))
		if code != 200 || (body != "b1" && body != "b2") {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	// Weights 1 and 2 with round_robin: round robin ignores weights, as in
	// the seed's own comment the algorithm decides.
	if b1.hits.Load() == 0 || b2.hits.Load() == 0 {
		t.Fatalf("hits %d / %d: both backends should serve", b1.hits.Load(), b2.hits.Load())
	}
}

func TestBadYAMLReloadIsRefusedWithLine(t *testing.T) {
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	good := seedYAML(t, b1, b2)
	tester := caddytest.NewTester(t)
	tester.InitServer(good, "yaml")
	cases := []struct{ name, from, to, want string }{
		{"unknown key", "health_check:", "helth_check:", `did you mean "health_check"`},
		{"wrong type", "burst: 10", "burst: ten", "rate_limit.burst"},
		{"bad weight", "weight: 2", "weight: -2", "backends[1].weight"},
		{"bad algorithm", `algorithm: "round_robin"`, `algorithm: "fastest"`, `"fastest"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(good, tc.from, tc.to, 1)
			code, body := postYAML(t, bad)
			if code == 200 {
				t.Fatal("a bad YAML config was accepted")
			}
			if !strings.Contains(body, tc.want) || !strings.Contains(body, ":") {
				t.Fatalf("error %s does not mention %q", body, tc.want)
			}
			// The running config still serves.
			if code, _ := get(t, newClient(), "/still-serving-"+tc.name); code != 200 {
				t.Fatalf("after a refused reload the proxy answers %d", code)
			}
		})
	}
}

func TestYAMLReloadsUnderLoadDropNothing(t *testing.T) {
	var b2Proxied atomic.Int64
	b1 := newBackend(t, "b1", nil)
	b2 := newBackend(t, "b2", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(http.StatusServiceUnavailable) // b2 is known to be down
			return
		}
		b2Proxied.Add(1)
		io.WriteString(w, "b2")
	})
	b3 := newBackend(t, "b3", nil)
	cfg := func(extra *backend, weight int) string {
		return fmt.Sprintf(`server:
  port: 9080
  host: 127.0.0.1
  timeout: 5s
backends:
  - url: %s
  - url: %s
  - url: %s
    weight: %d
health_check:
  interval: 250ms
  timeout: 250ms
  healthy_threshold: 1
  unhealthy_threshold: 2
circuit_breaker:
  failure_threshold: 3
rate_limit:
  requests_per_second: 100000
  burst: 100000
admin: localhost:2999
logging: warn
`, b1.URL, b2.URL, extra.URL, weight)
	}
	tester := caddytest.NewTester(t)
	tester.InitServer(cfg(b3, 1), "yaml")
	if t.Failed() {
		t.FailNow()
	}
	// Wait until b2 is out.
	c := newClient()
	if !eventually(3*time.Second, func() bool {
		for range 6 {
			if _, body := get(t, c, "/"); body == "b2" {
				return false
			}
		}
		return true
	}) {
		t.Fatal("b2 never taken out")
	}
	b2Before := b2Proxied.Load()
	l := startLoadDuringReloads(4, 50000)
	defer l.finish()
	for i := range 20 {
		if code, body := postYAML(t, cfg(b3, 1+i%2)); code != 200 {
			t.Fatalf("reload %d refused: %s", i, body)
		}
		time.Sleep(25 * time.Millisecond)
	}
	l.finish()
	if f := l.failed.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed during 20 reloads: %v", f, l.sent.Load(), l.failures)
	}
	// b2's health state outlived every reload: it was checked, but got
	// not one proxied request.
	t.Logf("%d requests over 20 reloads, 0 failed (%d dropped by a restarting server before any handler ran, and retried)",
		l.sent.Load(), l.restartDrops.Load())
	if n := b2Proxied.Load() - b2Before; n != 0 {
		t.Fatalf("the backend known to be unhealthy got %d proxied requests during the reloads", n)
	}
}
