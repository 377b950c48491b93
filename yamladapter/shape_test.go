package yamladapter

import (
	"strings"
	"testing"
)

// The request-shaping keys (issue 17) come through the YAML front end with
// the config package's rules, errors at their line.
func TestShapingKeys(t *testing.T) {
	own, _, err := Adapter{}.Adapt([]byte("backends:\n  - url: https://a:1\n  - url: https://b:2\n    tls:\n      ca: /etc/ca-b.pem\n      server_name: b.internal\n"),
		map[string]any{"filename": "config.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"url":"https://b:2","tls":{"ca":"/etc/ca-b.pem","server_name":"b.internal"}}`; !strings.Contains(string(own), want) {
		t.Errorf("a backend's own tls: output lacks %s:\n%s", want, own)
	}
	out, _, err := Adapter{}.Adapt([]byte(ok+`timeouts:
  dial: 2s
  read: 1m
retries:
  on_status: [500, 503]
  methods: [GET, POST]
`), map[string]any{"filename": "config.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"timeouts":{"dial":2000000000,"read":60000000000}`, `"on_status":[500,503]`, `"methods":["GET","POST"]`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{ok + "timeouts:\n  dial: 1us\n", "config.yaml:4:9: timeouts.dial: 1µs: less than 1ms"},
		{ok + "retries:\n  on_status:\n    - 502\n    - 404\n", "config.yaml:6:7: retries.on_status[1]: 404: only 429 and 500-599"},
		{"backends:\n  - url: https://a:1\ntls:\n  min_version: \"1.0\"\n", `config.yaml:4:16: tls.min_version: "1.0": TLS 1.0 and 1.1 are broken`},
		// A backend's own tls, with the same rules and lines.
		{"backends:\n  - url: https://a:1\n  - url: https://b:2\n    tls:\n      min_version: \"1.1\"\n", `config.yaml:5:20: backends[1].tls.min_version: "1.1": TLS 1.0 and 1.1 are broken`},
		{"backends:\n  - url: http://a:1\n  - url: http://b:2\n    tls:\n      server_name: b\n", `config.yaml:5:7: backends[1].tls: set, but the backends are http://`},
		{ok + "mirror:\n  percent: 10\n", `config.yaml:4:3: mirror.backends: required`},
		{ok + "headers:\n  request:\n    set:\n      Content-Length: \"5\"\n", `headers.request.set: "Content-Length": the proxy manages this header`},
		{ok + "host_header: a b\n", `config.yaml:3:14: host_header: "a b": want client, backend`},
		{"server:\n  timeout: 5s\n" + ok + "timeouts:\n  response_header: 6s\n", "config.yaml:6:20: timeouts.response_header: 6s: the section's timeout (5s)"},
	} {
		_, _, err := Adapter{}.Adapt([]byte(tc.in), map[string]any{"filename": "config.yaml"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}
