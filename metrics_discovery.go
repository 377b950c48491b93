package smartproxy

import "github.com/prometheus/client_golang/prometheus"

// discoveryCollector reads, at scrape time, the DNS discovery of every live
// route that has one. Its figures come from the watchers, which are kept
// across reloads, so the counters only go up.
type discoveryCollector struct {
	lookups, backends, lastSuccess *prometheus.Desc
}

var discoveryMetrics = func() *discoveryCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, name), help, labels, nil)
	}
	return &discoveryCollector{
		lookups:     d("discovery_lookups_total", "DNS discovery lookups, by result (ok, error).", "route", "result"),
		backends:    d("discovery_backends", "Backends in the last good DNS discovery answer.", "route"),
		lastSuccess: d("discovery_last_success_timestamp_seconds", "When the last DNS discovery lookup succeeded (0: never).", "route"),
	}
}()

// Describe implements prometheus.Collector.
func (c *discoveryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lookups
	ch <- c.backends
	ch <- c.lastSuccess
}

// Collect implements prometheus.Collector.
func (c *discoveryCollector) Collect(ch chan<- prometheus.Metric) {
	for _, rt := range liveRoutes() {
		if rt.discovery == nil {
			continue
		}
		st := rt.discovery.Status()
		ch <- prometheus.MustNewConstMetric(c.lookups, prometheus.CounterValue, float64(st.Lookups-st.Failures), rt.name, "ok")
		ch <- prometheus.MustNewConstMetric(c.lookups, prometheus.CounterValue, float64(st.Failures), rt.name, "error")
		ch <- prometheus.MustNewConstMetric(c.backends, prometheus.GaugeValue, float64(len(st.Backends)), rt.name)
		success := 0.0
		if !st.LastSuccess.IsZero() {
			success = float64(st.LastSuccess.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, success, rt.name)
	}
}

// Interface guards
var _ prometheus.Collector = (*discoveryCollector)(nil)
