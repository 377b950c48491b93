//go:build smartproxy_nometrics

package smartproxy

import "time"

// observe is a no-op in builds tagged smartproxy_nometrics, which exist only
// to measure what per-request metrics cost (see BENCHMARKS.md).
func (m *backendMetrics) observe(status int, latency time.Duration) {}
