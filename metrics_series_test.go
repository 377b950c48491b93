//go:build !smartproxy_nometrics

package smartproxy

import (
	"strconv"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-smartproxy/smartproxy/health"
)

// seriesOf returns the label sets (route, backend) present in the
// requests_total and retries_total Vecs for the given route.
func seriesOf(t *testing.T, route string) (backends map[string]float64, routeSeries bool) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.requests, metrics.retries)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	backends = map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] != route {
				continue
			}
			switch mf.GetName() {
			case "caddy_smartproxy_requests_total":
				backends[labels["backend"]] += m.GetCounter().GetValue()
			case "caddy_smartproxy_retries_total":
				routeSeries = true
			}
		}
	}
	return backends, routeSeries
}

// testConfig holds backends of one route in backendTotals, as a config
// does, and lets go of them as its Cleanup does.
type testConfig struct {
	keys []string
	m    map[string]*backendMetrics
}

func holdConfig(route string, backends ...string) *testConfig {
	c := &testConfig{m: map[string]*backendMetrics{}}
	for _, b := range backends {
		key := "totals|" + route + "|" + b
		v, _, _ := backendTotals.LoadOrNew(key, func() (caddy.Destructor, error) { return new(requestTotals), nil })
		c.keys = append(c.keys, key)
		m := newBackendMetrics(route, b, v.(*requestTotals))
		c.m[b] = &m
	}
	newRouteMetrics(route)
	return c
}

func (c *testConfig) cleanup() {
	for _, k := range c.keys {
		_, _ = backendTotals.Delete(k)
	}
}

func TestMetricSeriesFollowTheConfigs(t *testing.T) {
	const route = "series-test|*|default"
	a, b, c := "http://10.9.0.1:80", "http://10.9.0.2:80", "http://10.9.0.3:80"
	cfg1 := holdConfig(route, a, b)
	cfg1.m[a].observe(200, time.Millisecond)
	cfg1.m[b].observe(200, time.Millisecond)
	metrics.transitions.WithLabelValues(route, a, health.Unhealthy.String()).Inc()
	// A reload: the new config (b, c) is built before the old one goes.
	cfg2 := holdConfig(route, b, c)
	cfg1.cleanup()
	if metrics.transitions.DeleteLabelValues(route, a, health.Unhealthy.String()) {
		t.Errorf("the health transitions of %s, which left, are still there", a)
	}
	cfg2.m[b].observe(500, time.Millisecond)
	got, routeSeries := seriesOf(t, route)
	if _, ok := got[a]; ok {
		t.Errorf("series of %s, which left, are still there: %v", a, got)
	}
	if got[b] != 2 {
		t.Errorf("%s, kept across the reload, counts %v, want 2 (not reset)", b, got[b])
	}
	if _, ok := got[c]; !ok || !routeSeries {
		t.Errorf("series of the new config missing: %v, route series %v", got, routeSeries)
	}
	// The route leaves with its last config.
	cfg2.cleanup()
	if got, routeSeries := seriesOf(t, route); len(got) != 0 || routeSeries {
		t.Errorf("after the last config: backends %v, route series %v", got, routeSeries)
	}
}

// A UsagePool destructs outside its lock: a config being built may
// already hold a new requestTotals for a backend whose old one is still to
// be destructed. The late Destruct must not delete the new owner's series.
func TestMetricSeriesLateDestruct(t *testing.T) {
	const route, b = "series-late|*|default", "http://10.9.1.1:80"
	old, fresh := new(requestTotals), new(requestTotals)
	newBackendMetrics(route, b, old)
	m := newBackendMetrics(route, b, fresh)
	m.observe(200, time.Millisecond)
	_ = old.Destruct()
	if got, _ := seriesOf(t, route); got[b] != 1 {
		t.Fatalf("late Destruct of the old owner removed the new owner's series: %v", got)
	}
	_ = fresh.Destruct()
	if got, _ := seriesOf(t, route); len(got) != 0 {
		t.Fatalf("series left after the owner's Destruct: %v", got)
	}
}

// BenchmarkMetricSeriesReload is the series work of one reload that
// replaces 2,000 backends: the new config's holds, the old one's release.
func BenchmarkMetricSeriesReload(b *testing.B) {
	const route, n = "series-bench|*|default", 2000
	backendsOf := func(round int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "http://10." + strconv.Itoa(round&255) + "." + strconv.Itoa(i>>8) + "." + strconv.Itoa(i&255) + ":80"
		}
		return out
	}
	old := holdConfig(route, backendsOf(0)...)
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		round++
		next := holdConfig(route, backendsOf(round)...)
		old.cleanup()
		old = next
	}
	old.cleanup()
}
