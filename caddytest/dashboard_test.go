package caddytest

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// dashboardQueries returns every PromQL expression of the Grafana
// dashboard: the panels' targets and the template variables' queries.
func dashboardQueries(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Type  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("panel %q has a target without an expression", p.Title)
			}
			out = append(out, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("template query %s: %v", v.Query, err)
		}
		out = append(out, q.Query)
	}
	return out
}

var (
	metricRef  = regexp.MustCompile(`(caddy_smartproxy_[a-z0-9_]+)(\{[^}]*\})?`)
	labelRef   = regexp.MustCompile(`([a-z_]+)\s*(=~|!~|!=|=)`)
	byClause   = regexp.MustCompile(`by \(([^)]*)\)`)
	labelValue = regexp.MustCompile(`\b([a-z_]+)="`)
)

// TestDashboardMetricsExist: every metric the example Grafana dashboard
// queries, with every label it selects or groups by, is in a real /metrics
// scrape of Caddy with the plugin after traffic, a failed health check
// and a breaker trip.
func TestDashboardMetricsExist(t *testing.T) {
	queries := dashboardQueries(t, "../examples/grafana-dashboard.json")
	good := newBackend(t, "good", nil)
	dead := deadURL(t)
	// A route of its own, so the default route's counters stay as the
	// tests after this one expect them.
	newTesterJSON(t, fmt.Sprintf(`{"handler": "smartproxy", "routes": [{"path": "/dashboard/",
		"backends": [{"url": %q}, {"url": %q}],
		"health_check": {"interval": "100ms", "timeout": "50ms"},
		"circuit_breaker": {"failure_threshold": 1},
		"rate_limit": {"requests_per_second": 0.01, "burst": 5},
		"cache": {"max_size": 10, "ttl": "60s"}}]}`, good.URL, dead))
	c := newClient()
	for i := range 8 {
		get(t, c, fmt.Sprintf("/dashboard/%d", i))
	}
	// Health transitions are made when the dead backend goes down.
	var m map[string]float64
	deadline := time.Now().Add(5 * time.Second)
	for {
		m = scrape(t)
		if hasMetric(m, "caddy_smartproxy_health_transitions_total") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// labels of each metric in the scrape
	labels := map[string]map[string]bool{}
	for k := range m {
		i := strings.IndexByte(k, '{')
		if i < 0 {
			continue
		}
		name := k[:i]
		if labels[name] == nil {
			labels[name] = map[string]bool{}
		}
		for _, l := range labelValue.FindAllStringSubmatch(k[i:], -1) {
			labels[name][l[1]] = true
		}
	}
	used := map[string]bool{}
	for _, q := range queries {
		refs := metricRef.FindAllStringSubmatch(q, -1)
		if len(refs) == 0 {
			t.Errorf("query %q names no caddy_smartproxy_ metric", q)
		}
		for _, r := range refs {
			name := r[1]
			used[name] = true
			have, ok := labels[name]
			if !ok {
				t.Errorf("the dashboard queries %s, which a real scrape does not have (query %q)", name, q)
				continue
			}
			for _, l := range labelRef.FindAllStringSubmatch(r[2], -1) {
				if !have[l[1]] {
					t.Errorf("%s has no label %q (query %q)", name, l[1], q)
				}
			}
			for _, by := range byClause.FindAllStringSubmatch(q, -1) {
				for _, l := range strings.Split(by[1], ",") {
					if l = strings.TrimSpace(l); !have[l] {
						t.Errorf("%s has no label %q to group by (query %q)", name, l, q)
					}
				}
			}
		}
	}
	// The dashboard covers RED, health, breakers, the limiter and the cache.
	for _, want := range []string{
		"caddy_smartproxy_requests_total", "caddy_smartproxy_backend_response_seconds_bucket",
		"caddy_smartproxy_backend_healthy", "caddy_smartproxy_breaker_state", "caddy_smartproxy_breaker_trips_total",
		"caddy_smartproxy_ratelimit_limited_total", "caddy_smartproxy_cache_hits_total", "caddy_smartproxy_retries_total",
	} {
		if !used[want] {
			t.Errorf("the dashboard does not query %s", want)
		}
	}
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d metrics queried: %s", len(names), strings.Join(names, " "))
}

func hasMetric(m map[string]float64, name string) bool {
	for k := range m {
		if strings.HasPrefix(k, name+"{") {
			return true
		}
	}
	return false
}
