package smartproxy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestCaddyfileShaping(t *testing.T) {
	cases := []struct {
		name, input string
		want        string // the handler's JSON
	}{
		{"timeouts block", `smartproxy {
			to a:1
			timeouts {
				dial 2s
				response_header 10s
				idle_connection 1m
				request_body 5s
			}
		}`, `{"timeouts":{"dial":2000000000,"response_header":10000000000,"idle_connection":60000000000,"request_body":5000000000},` +
			`"backends":[{"url":"http://a:1"}]}`},
		{"Caddy's timeout words", `smartproxy {
			to a:1
			dial_timeout 2s
			response_header_timeout 10s
			read_timeout 1m
			write_timeout 30s
			keepalive 2m
		}`, `{"timeouts":{"dial":2000000000,"response_header":10000000000,"read":60000000000,"write":30000000000,"idle_connection":120000000000},` +
			`"backends":[{"url":"http://a:1"}]}`},
		{"retries block", `smartproxy {
			to a:1
			retries 2 {
				on_status 500 502 429
				methods GET POST
				backoff 10ms
			}
		}`, `{"backends":[{"url":"http://a:1"}],"retries":{"count":2,"backoff":10000000,"on_status":[500,502,429],"methods":["GET","POST"]}}`},
		{"tls block", `smartproxy {
			to https://a:1
			tls {
				ca /etc/ca.pem
				server_name api.internal
				min_version 1.3
			}
			host_header client
		}`, `{"backends":[{"url":"https://a:1"}],"tls":{"ca":"/etc/ca.pem","server_name":"api.internal","min_version":"1.3"},"host_header":"client"}`},
		{"Caddy's tls words", `smartproxy {
			to https://a:1
			tls_trusted_ca_certs /etc/ca.pem
			tls_client_auth /etc/c.pem /etc/k.pem
			tls_server_name api.internal
			tls_renegotiation once
			tls_insecure_skip_verify
		}`, `{"backends":[{"url":"https://a:1"}],"tls":{"ca":"/etc/ca.pem","client_certificate":"/etc/c.pem","client_key":"/etc/k.pem",` +
			`"server_name":"api.internal","insecure_skip_verify":true,"renegotiation":"once"}}`},
		{"a backend's own tls, in Caddy's words", `smartproxy {
			to https://a:1
			to https://b:2 {
				tls_trusted_ca_certs /etc/ca-b.pem
				tls_client_auth /etc/c.pem /etc/k.pem
				tls_server_name b.internal
				tls_renegotiation once
				tls_insecure_skip_verify
			}
			tls_trusted_ca_certs /etc/ca.pem
		}`, `{"backends":[{"url":"https://a:1"},{"url":"https://b:2","tls":{"ca":"/etc/ca-b.pem","client_certificate":"/etc/c.pem",` +
			`"client_key":"/etc/k.pem","server_name":"b.internal","insecure_skip_verify":true,"renegotiation":"once"}}],"tls":{"ca":"/etc/ca.pem"}}`},
		{"a backend's own tls block, for each upstream of its to", `smartproxy {
			to https://a:1 https://b:2 {
				tls {
					ca /etc/ca-ab.pem
					min_version 1.3
				}
			}
		}`, `{"backends":[{"url":"https://a:1","tls":{"ca":"/etc/ca-ab.pem","min_version":"1.3"}},` +
			`{"url":"https://b:2","tls":{"ca":"/etc/ca-ab.pem","min_version":"1.3"}}]}`},
		{"a route's backend's own tls", `smartproxy {
			route /api {
				to https://a:1 {
					tls_server_name a.internal
				}
			}
		}`, `{"routes":[{"path":"/api","backends":[{"url":"https://a:1","tls":{"server_name":"a.internal"}}]}]}`},
		{"Caddy's header words", `smartproxy {
			to a:1
			header_up X-Real-IP {http.request.remote.host}
			header_up +X-Tag one
			header_up -Cookie
			header_up Host {http.reverse_proxy.upstream.hostport}
			header_down X-Backend {http.smartproxy.backend}
			header_down -Server
			strip_path_prefix /api
		}`, `{"backends":[{"url":"http://a:1"}],"host_header":"backend","headers":{"request":{"set":{"X-Real-IP":"{http.request.remote.host}"},` +
			`"add":{"X-Tag":"one"},"delete":["Cookie"]},"response":{"set":{"X-Backend":"{http.smartproxy.backend}"},"delete":["Server"]}},"strip_path_prefix":"/api"}`},
		{"mirror", `smartproxy {
			to a:1
			mirror shadow:2 https://shadow:3 {
				percent 10
				max_in_flight 5
				timeout 2s
			}
		}`, `{"backends":[{"url":"http://a:1"}],"mirror":{"backends":[{"url":"http://shadow:2"},{"url":"https://shadow:3"}],"percent":10,"max_in_flight":5,"timeout":2000000000}}`},
		{"headers block", `smartproxy {
			to a:1
			headers {
				request {
					set X-A 1
					delete X-B X-C
				}
			}
		}`, `{"backends":[{"url":"http://a:1"}],"headers":{"request":{"set":{"X-A":"1"},"delete":["X-B","X-C"]}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := adaptCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(h.Config)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCaddyfileShapingErrors(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"timeout under a millisecond", "smartproxy {\n to a:1\n dial_timeout 10us\n}", "timeouts.dial: 10µs: less than 1ms"},
		{"timeout and response_header", "smartproxy {\n to a:1\n timeout 5s\n response_header_timeout 6s\n}",
			"timeouts.response_header: 6s: the section's timeout (5s) is the same setting; give one of the two, at Testfile:4"},
		{"retry on 404", "smartproxy {\n to a:1\n retries {\n  on_status 502 404\n }\n}",
			"retries.on_status[1]: 404: only 429 and 500-599 answers can be retried, at Testfile:4"},
		{"lower-case method", "smartproxy {\n to a:1\n retries {\n  methods post\n }\n}", `retries.methods[0]: "post": not an HTTP method`},
		{"tls on http backends", "smartproxy {\n to a:1\n tls_server_name x\n}", "tls: set, but the backends are http://: TLS settings apply to https:// backends, at Testfile:3"},
		{"client auth one file", "smartproxy {\n to https://a:1\n tls_client_auth /c.pem\n}", "tls_client_auth: want <cert_file> <key_file>"},
		{"managed header", "smartproxy {\n to a:1\n header_up Transfer-Encoding chunked\n}",
			`headers.request.set: "Transfer-Encoding": the proxy manages this header (it frames the message), at Testfile:3`},
		{"delete with a value", "smartproxy {\n to a:1\n header_down -Server x\n}", "none with -<field>"},
		{"strip with a dot segment", "smartproxy {\n to a:1\n strip_path_prefix /a/../b\n}", `strip_path_prefix: "/a/../b": not a normal path (empty or dot segment), at Testfile:3`},
		{"mirror without backends", "smartproxy {\n to a:1\n mirror {\n  percent 5\n }\n}", "mirror.backends: required: the backends that get the copies, at Testfile:3"},
		{"mirror percent", "smartproxy {\n to a:1\n mirror b:2 {\n  percent 150\n }\n}", "mirror.percent: 150: must be between 0 and 100, at Testfile:4"},
		{"unknown timeout", "smartproxy {\n to a:1\n timeouts {\n  connect 1s\n }\n}", `timeouts: unrecognized subdirective "connect"`},
		{"a backend's tls on http", "smartproxy {\n to http://a:1\n to http://b:2 {\n  tls_server_name x\n }\n}",
			"backends[1].tls: set, but the backends are http://: TLS settings apply to https:// backends, at Testfile:4"},
		{"a backend's bad tls value", "smartproxy {\n to https://a:1\n to https://b:2 {\n  tls {\n   min_version 1.0\n  }\n }\n}",
			`backends[1].tls.min_version: "1.0": TLS 1.0 and 1.1 are broken; use 1.2 or 1.3, at Testfile:5`},
		{"a backend's tls key with no value", "smartproxy {\n to https://a:1 {\n  tls_server_name\n }\n}", "wrong argument count or unexpected line ending after 'tls_server_name', at Testfile:3"},
		{"a backend's client auth one file", "smartproxy {\n to https://a:1 {\n  tls_client_auth /c.pem\n }\n}", "tls_client_auth: want <cert_file> <key_file>, got 1 values, at Testfile:3"},
		{"other words in a to block", "smartproxy {\n to https://a:1 {\n  tls_server_nam x\n }\n}",
			`to: unrecognized subdirective "tls_server_nam" (did you mean "tls_server_name"?), at Testfile:3`},
		{"weight in a to block", "smartproxy {\n to https://a:1 {\n  weight 2\n }\n}", `to: unrecognized subdirective "weight"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adaptCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant one containing %q", err, tc.want)
			}
		})
	}
}
