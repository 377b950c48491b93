//go:build !smartproxy_nometrics

package smartproxy

import "time"

// observe records one try: its status (0 when no answer came) and latency.
func (m *backendMetrics) observe(status int, latency time.Duration) {
	m.requests.Add(1)
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	m.byClass[class].Inc()
	if class == 0 || class == 5 {
		m.failures.Add(1)
	}
	if status != 0 {
		m.duration.Observe(latency.Seconds())
	}
}
