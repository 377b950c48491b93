package yamladapter

import (
	"strings"
	"testing"
)

func TestWarnings(t *testing.T) {
	type want struct {
		line      int
		directive string
		message   string
	}
	for _, tc := range []struct {
		name string
		in   string
		want []want
	}{
		{"none for the seed's values", ok + "health_check:\n  interval: 30s\n  timeout: 10s\ncache:\n  max_size: 1000\n  ttl: 300s\n", nil},
		{"health check timeout over half the interval",
			ok + "health_check:\n  interval: 10s\n  timeout: 6s\n",
			[]want{{5, "health_check.timeout", "6s is more than half of interval 10s"}}},
		{"health check timeout over half the default interval",
			ok + "health_check:\n  timeout: 20s\n",
			[]want{{4, "health_check.timeout", "20s is more than half of the default interval 30s"}}},
		{"health check timeout exactly half is fine",
			ok + "health_check:\n  interval: 10s\n  timeout: 5s\n", nil},
		{"latency threshold at the server timeout",
			"server:\n  timeout: 2s\n" + ok + "circuit_breaker:\n  latency_threshold: 2s\n",
			[]want{{6, "circuit_breaker.latency_threshold", "2s is not below the timeout 2s"}}},
		{"latency threshold over the default timeout",
			ok + "circuit_breaker:\n  latency_threshold: 1m\n",
			[]want{{4, "circuit_breaker.latency_threshold", "1m0s is not below the timeout 30s"}}},
		{"latency threshold in a route against its inherited timeout",
			"server:\n  timeout: 1s\n" + ok + "routes:\n  - path: /a\n    circuit_breaker:\n      latency_threshold: 3s\n  - path: /b\n    timeout: 10s\n    circuit_breaker:\n      latency_threshold: 3s\n",
			[]want{{8, "routes[0].circuit_breaker.latency_threshold", "3s is not below the timeout 1s"}}},
		{"cache ttl over max_ttl",
			ok + "cache:\n  max_size: 10\n  ttl: 2h\n  max_ttl: 1h\n",
			[]want{{5, "cache.ttl", "2h0m0s is longer than max_ttl 1h0m0s"}}},
		{"cache with neither ttl nor max_size",
			ok + "cache:\n",
			[]want{{3, "cache", "neither ttl nor max_size set"}}},
		{"no backends at all", "server:\n  port: 9000\n",
			[]want{{1, "backends", "no backends and no routes"}}},
		{"admin off loopback", ok + "admin: 0.0.0.0:2019\n",
			[]want{{3, "admin", `admin endpoint "0.0.0.0:2019" is not on a loopback address`}}},
		{"admin on loopback", ok + "admin: 127.0.0.1:2019\n", nil},
		{"admin on a unix socket", ok + "admin: unix//run/caddy-admin.sock\n", nil},
		{"several, in order",
			"admin: \":2019\"\nhealth_check:\n  timeout: 20s\nserver:\n  port: 9000\n",
			[]want{
				{3, "health_check.timeout", "more than half"},
				{1, "backends", "no backends"},
				{1, "admin", "not on a loopback address"},
			}},
		{"no warnings for Caddy's own config", "apps:\n  http: {}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := Adapter{}.Adapt([]byte(tc.in), map[string]any{"filename": "w.yaml"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d warnings, want %d: %v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.File != "w.yaml" || g.Line != w.line || g.Directive != w.directive || !strings.Contains(g.Message, w.message) {
					t.Errorf("warning %d = %+v, want line %d directive %q message containing %q", i, g, w.line, w.directive, w.message)
				}
			}
		})
	}
}
