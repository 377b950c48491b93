package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       []string // "path: substring", in order
	}{
		{"seed: weight 2 under round_robin", `{"backends":[{"url":"http://a","weight":1},{"url":"http://b","weight":2}],"load_balancer":{"algorithm":"round_robin"}}`,
			[]string{"backends[1].weight: weights differ (1 and 2) but algorithm round_robin ignores them"}},
		{"default algorithm is round_robin", `{"backends":[{"url":"http://a"},{"url":"http://b","weight":3}]}`,
			[]string{"backends[1].weight: weighted_round_robin"}},
		{"the unset weight is the odd one", `{"backends":[{"url":"http://a","weight":3},{"url":"http://b"}]}`,
			[]string{"backends[0].weight: weights differ (3 and 1)"}},
		{"weights used", `{"backends":[{"url":"http://a","weight":1},{"url":"http://b","weight":2}],"load_balancer":{"algorithm":"weighted_round_robin"}}`, nil},
		{"equal weights", `{"backends":[{"url":"http://a","weight":2},{"url":"http://b","weight":2}]}`, nil},
		{"zero drains, not a weight", `{"backends":[{"url":"http://a","weight":0},{"url":"http://b","weight":1}]}`, nil},
		{"route balances the top's backends its own way", `{"backends":[{"url":"http://a","weight":1},{"url":"http://b","weight":5}],
			"load_balancer":{"algorithm":"p2c"},"routes":[{"path":"/x","load_balancer":{"algorithm":"round_robin"}}]}`,
			[]string{"routes[0].backends[1].weight: round_robin"}},
		{"route inherits all: warned once", `{"backends":[{"url":"http://a","weight":1},{"url":"http://b","weight":5}],"routes":[{"path":"/x"}]}`,
			[]string{"backends[1].weight: round_robin"}},
		{"health timeout over half", `{"backends":[{"url":"http://a"}],"health_check":{"interval":"10s","timeout":"6s"}}`,
			[]string{"health_check.timeout: 6s is more than half of interval 10s"}},
		{"latency threshold at timeout", `{"backends":[{"url":"http://a"}],"timeout":"2s","circuit_breaker":{"latency_threshold":"2s"}}`,
			[]string{"circuit_breaker.latency_threshold: 2s is not below the timeout 2s"}},
		{"queue without caps", `{"backends":[{"url":"http://a"}],"load_balancer":{"queue":{}}}`,
			[]string{"load_balancer.queue: no backend has max_requests"}},
		{"queue with a backend cap", `{"backends":[{"url":"http://a","max_requests":3},{"url":"http://b"}],"load_balancer":{"queue":{}}}`, nil},
		{"queue with a default cap", `{"backends":[{"url":"http://a"}],"load_balancer":{"max_requests":3,"queue":{}}}`, nil},
		{"route without caps under a queue", `{"backends":[{"url":"http://a","max_requests":3}],"load_balancer":{"queue":{}},"routes":[{"path":"/x","backends":[{"url":"http://b"}]}]}`,
			[]string{"routes[0].load_balancer.queue: no backend has max_requests"}},
		{"nothing to forward to", `{}`, []string{"backends: no backends and no routes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			if err := DecodeJSON([]byte(tc.json), &c); err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			got := c.Warnings()
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %+v, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				path, text, _ := strings.Cut(w, ": ")
				if got[i].Path != path || !strings.Contains(got[i].Message, text) {
					t.Errorf("warning %d = %+v, want path %s mentioning %q", i, got[i], path, text)
				}
			}
		})
	}
}

func TestFields(t *testing.T) {
	names := FieldNames(Fields(reflect.TypeFor[Route]()))
	want := []string{"host", "path", "timeout", "timeouts", "backends", "discovery", "load_balancer", "health_check", "circuit_breaker",
		"rate_limit", "cache", "stream_close_delay", "retries", "tls", "host_header", "headers", "strip_path_prefix", "mirror"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("Route's keys %v, want %v (Section flattened)", names, want)
	}
	type odd struct {
		Tagged   int `json:"tagged,omitempty"`
		Untagged string
		Skipped  int `json:"-"`
		hidden   int
	}
	_ = odd{}.hidden
	if got := FieldNames(Fields(reflect.TypeFor[odd]())); !reflect.DeepEqual(got, []string{"tagged", "Untagged"}) {
		t.Fatalf("keys %v", got)
	}
	f, ok := LookupField(Fields(reflect.TypeFor[Config]()), "rate_limit")
	if !ok || f.Type != reflect.TypeFor[*RateLimit]() || len(f.Index) != 2 {
		t.Fatalf("rate_limit of Config: %+v %v", f, ok)
	}
}
