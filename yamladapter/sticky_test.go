package yamladapter

import (
	"strings"
	"testing"
)

// TestStickyAndCaps: the sticky, cap and queue keys come through the YAML
// file into the handler's JSON as written.
func TestStickyAndCaps(t *testing.T) {
	in := `server:
  port: 8080
backends:
  - url: http://localhost:3001
    max_requests: 5
  - url: http://localhost:3002
load_balancer:
  algorithm: least_connections
  max_requests: 10
  queue:
    size: 100
    timeout: 2s
  sticky:
    cookie: sp_route
    same_site: strict
    secret: "{env.STICKY_SECRET}"
`
	out, warnings, err := Adapter{}.Adapt([]byte(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	for _, want := range []string{
		`{"url":"http://localhost:3001","max_requests":5}`,
		`"max_requests":10,"queue":{"size":100,"timeout":2000000000},"sticky":{"cookie":"sp_route","same_site":"strict","secret":"{env.STICKY_SECRET}"}`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output %s\nlacks %s", out, want)
		}
	}
}
