package smartproxy

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestCaddyfileStickyAndCapsErrors(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"cap not a number", "smartproxy {\n to a:1\n max_requests lots\n}", `max_requests: "lots" is not a whole number`},
		{"cap no args", "smartproxy {\n to a:1\n max_requests\n}", "want `max_requests <n>`"},
		{"cap unknown upstream", "smartproxy {\n to a:1\n max_requests b:1 2\n}", "not listed by `to`"},
		{"negative cap names its line", "smartproxy {\n to a:1\n max_requests a:1 -1\n}", "backends[0].max_requests: -1: must not be negative, at Testfile:3"},
		{"bad cookie name names its line", "smartproxy {\n to a:1\n sticky {\n  cookie a,b\n }\n}", `load_balancer.sticky.cookie: "a,b": a cookie name must be an HTTP token`},
		{"bad cookie line", "smartproxy {\n to a:1\n sticky {\n  cookie a,b\n }\n}", "at Testfile:4"},
		{"queue unknown key", "smartproxy {\n to a:1\n queue {\n  sise 3\n }\n}", `load_balancer queue: unrecognized subdirective "sise" (did you mean "size"?)`},
		{"queue negative size", "smartproxy {\n to a:1\n max_requests 1\n queue {\n  size -3\n }\n}", "load_balancer.queue.size: -3: must not be negative, at Testfile:5"},
		{"same_site", "smartproxy {\n to a:1\n sticky {\n  same_site sometimes\n }\n}", `"sometimes": must be lax, strict or none, at Testfile:4`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adaptCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant one containing %q", err, tc.want)
			}
		})
	}
}
