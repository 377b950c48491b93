package caddytest

import (
	"net/http"
	"testing"
)

// TestRateLimitKeyFallback: a limit keyed on a header that a request lacks
// no longer puts every such request in one bucket. By default (client_ip)
// each client IP gets its own; refuse answers 400; shared keeps one bucket
// on purpose. Requests that carry the header are keyed by it throughout.
func TestRateLimitKeyFallback(t *testing.T) {
	b := newBackend(t, "b", nil)
	status := func(c *http.Client, key string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, proxyURL+"/", nil)
		if key != "" {
			req.Header.Set("X-Api-Key", key)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	one, two := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	for i, tc := range []struct {
		fallback string
		// statuses of: one without the key, two without it, one again
		// without it, then one with key "k" twice.
		want [5]int
	}{
		{"", [5]int{200, 200, 429, 200, 429}},
		{"client_ip", [5]int{200, 200, 429, 200, 429}},
		{"refuse", [5]int{400, 400, 400, 200, 429}},
		{"shared", [5]int{200, 429, 429, 200, 429}},
	} {
		t.Run("fallback "+tc.fallback, func(t *testing.T) {
			// A rate of its own per case: buckets outlive a reload when
			// the limit is unchanged.
			rps := 0.001 * float64(i+1)
			rl := map[string]any{"requests_per_second": rps, "burst": 1, "key": "{http.request.header.X-Api-Key}"}
			if tc.fallback != "" {
				rl["key_fallback"] = tc.fallback
			}
			// On a route of its own: the route's metrics series outlive
			// this test only as long as its config, so tests that count
			// the default route's limiter start from zero.
			start(t, map[string]any{"routes": []map[string]any{{"path": "/", "backends": backends(b), "rate_limit": rl}}})
			got := [5]int{status(one, ""), status(two, ""), status(one, ""), status(one, "k"), status(one, "k")}
			if got != tc.want {
				t.Errorf("statuses %v, want %v", got, tc.want)
			}
		})
	}
}
