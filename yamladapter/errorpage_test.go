package yamladapter

import (
	"strings"
	"testing"
)

// The 503 reason mentions the shared rate-limit store only when one is
// configured to fail closed, at the top level or in a route.
func TestErrorReason503(t *testing.T) {
	const store = "{requests_per_second: 1, burst: 1, store: redis, redis: {address: 127.0.0.1:6379, failure_policy: %s}}"
	for _, tc := range []struct {
		name, yaml string
		store      bool
	}{
		{"no shared store", "backends: [{url: http://a}]\nrate_limit: {requests_per_second: 1, burst: 1}\n", false},
		{"fails open", "backends: [{url: http://a}]\nrate_limit: " + strings.Replace(store, "%s", "fail_open", 1) + "\n", false},
		{"fails closed", "backends: [{url: http://a}]\nrate_limit: " + strings.Replace(store, "%s", "fail_closed", 1) + "\n", true},
		{"a route fails closed", "routes:\n  - path: /x\n    backends: [{url: http://a}]\n    rate_limit: " +
			strings.Replace(store, "%s", "fail_closed", 1) + "\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := Adapter{}.Adapt([]byte(tc.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			plain := strings.Contains(string(out), `"body":"{http.error.status_code} {http.error.status_text}: no backend is available\n"`)
			withStore := strings.Contains(string(out), `no backend is available, or the shared rate-limit store is unreachable\n"`)
			if plain == tc.store || withStore != tc.store {
				t.Errorf("503 reason: plain %v, naming the store %v; want the store named: %v\n%s", plain, withStore, tc.store, out)
			}
		})
	}
}
