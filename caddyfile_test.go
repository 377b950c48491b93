package smartproxy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	cases := []struct {
		name, input string
		want        string // the handler's JSON
	}{
		{"inline upstreams", `smartproxy localhost:3001 http://localhost:3002`,
			`{"backends":[{"url":"http://localhost:3001"},{"url":"http://localhost:3002"}]}`},
		{"seed shape", `smartproxy {
			to http://localhost:3001 http://localhost:3002
			weight http://localhost:3002 2
			lb_policy weighted_round_robin
			timeout 30s
			retries 2
		}`, `{"timeout":30000000000,"backends":[{"url":"http://localhost:3001"},{"url":"http://localhost:3002","weight":2}],` +
			`"load_balancer":{"algorithm":"weighted_round_robin"},"retries":{"count":2}}`},
		{"header hash", `smartproxy {
			to a:1
			lb_policy header_hash X-User
		}`, `{"backends":[{"url":"http://a:1"}],"load_balancer":{"algorithm":"header_hash","hash_header":"X-User"}}`},
		{"sections", `smartproxy {
			to a:1
			health_check /healthz {
				interval 10s
				timeout 2s
				unhealthy_statuses 500 503
				headers Host example.com
			}
			rate_limit 100 burst 10 {
				key {http.request.header.X-Api-Key}
			}
			cache {
				max_size 1000
				ttl 300s
				allow_set_cookie
			}
			circuit_breaker {
				failure_threshold 3
			}
		}`, `{"backends":[{"url":"http://a:1"}],` +
			`"health_check":{"interval":10000000000,"timeout":2000000000,"path":"/healthz","headers":{"Host":"example.com"},"unhealthy_statuses":[500,503]},` +
			`"circuit_breaker":{"failure_threshold":3},` +
			`"rate_limit":{"requests_per_second":100,"burst":10,"key":"{http.request.header.X-Api-Key}"},` +
			`"cache":{"max_size":1000,"ttl":300000000000,"allow_set_cookie":true}}`},
		{"redis store", `smartproxy {
			to a:1
			rate_limit 30 burst 30 {
				global
				store redis
				redis {
					address 127.0.0.1:6379
					password {env.REDIS_PASSWORD}
					failure_policy fail_closed
					tls {
						server_name redis.internal
					}
				}
			}
		}`, `{"backends":[{"url":"http://a:1"}],"rate_limit":{"requests_per_second":30,"burst":30,"global":true,` +
			`"store":"redis","redis":{"address":"127.0.0.1:6379","password":"{env.REDIS_PASSWORD}",` +
			`"tls":{"server_name":"redis.internal"},"failure_policy":"fail_closed"}}}`},
		{"shared admin state", `smartproxy {
			to a:1
			admin_state {
				store redis
				redis {
					address 127.0.0.1:6379
					password {env.REDIS_PASSWORD}
				}
			}
		}`, `{"backends":[{"url":"http://a:1"}],"admin_state":{"store":"redis","redis":{"address":"127.0.0.1:6379","password":"{env.REDIS_PASSWORD}"}}}`},
		{"shared cache", `smartproxy {
			to a:1
			cache {
				ttl 60s
				shared {
					store redis
					redis {
						addresses 10.0.0.1:7000 10.0.0.2:7000
						password {env.REDIS_PASSWORD}
					}
					max_entry_bytes 262144
					timeout 50ms
					lock_timeout 2s
				}
			}
		}`, `{"backends":[{"url":"http://a:1"}],"cache":{"ttl":60000000000,"shared":{"store":"redis",` +
			`"redis":{"addresses":["10.0.0.1:7000","10.0.0.2:7000"],"password":"{env.REDIS_PASSWORD}"},` +
			`"max_entry_bytes":262144,"timeout":50000000,"lock_timeout":2000000000}}}`},
		{"routes", `smartproxy {
			to a:1
			route api.example.com/v1 {
				to b:2
				lb_policy least_connections
			}
			route /static {
				to c:3
			}
		}`, `{"backends":[{"url":"http://a:1"}],"routes":[` +
			`{"host":"api.example.com","path":"/v1","backends":[{"url":"http://b:2"}],"load_balancer":{"algorithm":"least_connections"}},` +
			`{"path":"/static","backends":[{"url":"http://c:3"}]}]}`},
		{"backup, discovery, stream_close_delay", `smartproxy {
			to a:1 b:2
			backup b:2
			stream_close_delay 5m
			discovery dns api.internal {
				port 8080
				refresh 10s
				resolvers 127.0.0.1:53 [::1]:5353
			}
		}`, `{"backends":[{"url":"http://a:1"},{"url":"http://b:2","backup":true}],` +
			`"discovery":{"dns":{"name":"api.internal","port":8080,"refresh":10000000000,"resolvers":["127.0.0.1:53","[::1]:5353"]}},` +
			`"stream_close_delay":300000000000}`},
		{"srv discovery, name in the block", `smartproxy {
			discovery dns {
				name _api._tcp.internal
				type SRV
			}
		}`, `{"discovery":{"dns":{"name":"_api._tcp.internal","type":"SRV"}}}`},
		{"all of it", `smartproxy {
			to a:1 b:2
			max_requests 10
			max_requests b:2 5
			queue {
				size 100
				timeout 2s
			}
			sticky sp_route {
				max_age 1h
				secure off
				http_only
				same_site strict
				secret {env.STICKY_SECRET}
			}
		}`, `{"backends":[{"url":"http://a:1"},{"url":"http://b:2","max_requests":5}],"load_balancer":{"max_requests":10,` +
			`"queue":{"size":100,"timeout":2000000000},"sticky":{"cookie":"sp_route","max_age":3600000000000,"secure":false,` +
			`"http_only":true,"same_site":"strict","secret":"{env.STICKY_SECRET}"}}}`},
		{"bare blocks", "smartproxy {\n to a:1\n max_requests 3\n queue\n sticky\n}",
			`{"backends":[{"url":"http://a:1"}],"load_balancer":{"max_requests":3,"queue":{},"sticky":{}}}`},
		{"in a route", "smartproxy {\n route /x {\n to a:1\n max_requests a:1 2\n lb_policy p2c\n }\n}",
			`{"routes":[{"path":"/x","backends":[{"url":"http://a:1","max_requests":2}],"load_balancer":{"algorithm":"p2c"}}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input)); err != nil {
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

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	cases := []struct{ name, input, want string }{
		{"unknown", "smartproxy {\n to a:1\n upstreams b:2\n}", `unrecognized subdirective "upstreams"`},
		{"to without args", "smartproxy {\n to\n}", "wrong argument count"},
		{"weight not a number", "smartproxy {\n to a:1\n weight a:1 heavy\n}", `"heavy" is not a whole number`},
		{"weight unknown upstream", "smartproxy {\n to a:1\n weight b:1 2\n}", "not listed by `to`"},
		{"weight without number", "smartproxy {\n to localhost:30002\n weight localhost:30002\n}", "weight of localhost:30002: the number is missing"},
		{"weight without number names line", "smartproxy {\n to localhost:30002\n weight localhost:30002\n}", "Testfile:3"},
		{"weight too many args", "smartproxy {\n to a:1\n weight a:1 2 3\n}", "wrong argument count"},
		{"weight unknown upstream in route", "smartproxy {\n to a:1\n route /x {\n to b:2\n weight a:1 2\n }\n}", "not listed by `to`"},
		{"lb_policy args", "smartproxy {\n lb_policy\n}", "wrong argument count"},
		{"nested route", "smartproxy {\n route /a {\n route /b {\n }\n }\n}", "cannot be nested"},
		{"bad rate", "smartproxy {\n rate_limit fast\n}", `"fast" is not a rate`},
		{"bad burst word", "smartproxy {\n rate_limit 10 bursts 5\n}", "rate_limit <rps> burst <n>"},
		{"block bad int", "smartproxy {\n circuit_breaker {\n failure_threshold many\n }\n}", `"many" is not a whole number`},
		{"block bad duration", "smartproxy {\n cache {\n ttl forever\n }\n}", `bad duration "forever"`},
		{"block bad bool", "smartproxy {\n rate_limit 1 burst 1 {\n global maybe\n }\n}", `"maybe": want on or off`},
		{"block unknown", "smartproxy {\n health_check {\n intervl 1s\n }\n}", `health_check: unrecognized subdirective "intervl" (did you mean "interval"?)`},
		{"nested block unknown", "smartproxy {\n rate_limit 1 burst 1 {\n redis {\n adress x:1\n }\n }\n}", `rate_limit redis: unrecognized subdirective "adress" (did you mean "address"?)`},
		{"unknown, nothing close", "smartproxy {\n zzzzzzzz 1\n}", `unrecognized subdirective "zzzzzzzz" (known: to, weight, backup, discovery`},
		{"admin state unknown", "smartproxy {\n to a:1\n admin_state {\n stor redis\n }\n}", `admin_state: unrecognized subdirective "stor" (did you mean "store"?)`},
		{"shared cache unknown", "smartproxy {\n cache {\n shared {\n store redis\n lock_timeot 1s\n }\n }\n}", `cache shared: unrecognized subdirective "lock_timeot" (did you mean "lock_timeout"?)`},
		{"shared cache bad size", "smartproxy {\n cache {\n shared {\n max_entry_bytes 256KiB\n }\n }\n}", `cache shared max_entry_bytes: "256KiB"`},
		{"backup unknown upstream", "smartproxy {\n to a:1\n backup b:1\n}", "backup: upstream b:1 is not listed by `to`"},
		{"backup without upstream", "smartproxy {\n to a:1\n backup\n}", "wrong argument count"},
		{"discovery without source", "smartproxy {\n discovery\n}", "wrong argument count"},
		{"discovery unknown source", "smartproxy {\n discovery consul x\n}", `discovery: unknown source "consul"`},
		{"discovery unknown key", "smartproxy {\n discovery dns a {\n prot 80\n }\n}", `discovery dns: unrecognized subdirective "prot" (did you mean "port"?)`},
		{"argument before a block", "smartproxy {\n circuit_breaker 5 {\n }\n}", `circuit_breaker: unexpected argument "5" before the block`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestCaddyfileValidationLines checks that the directive validates at
// adapt time and places each error at the line of the subdirective that
// caused it, inside routes too; a valid block adapts.
func TestCaddyfileValidationLines(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"route's rate limit", "smartproxy {\n to a:1\n route /api {\n  to b:2\n  rate_limit 5\n }\n}",
			"routes[0].rate_limit.burst: required: the bucket size, how many requests may arrive at once, at least 1 (e.g. 10), at Testfile:5"},
		{"route's second to", "smartproxy {\n to a:1\n route /api {\n  to b:2\n  to https://c:3\n }\n}",
			`routes[0].backends[1].url: "https://c:3": one route's backends must share a scheme (routes[0].backends[0] is http, this is https), at Testfile:5`},
		{"same match twice", "smartproxy {\n to a:1\n route /v1 {\n  to b:2\n }\n route /v1/ {\n  to c:3\n }\n}",
			`routes[1]: host "" path "/v1/": same match as routes[0], at Testfile:6`},
		{"inline upstream", "smartproxy ftp://a:1", "backends[0].url: "},
		{"unwritten section points at the directive", "smartproxy {\n route /x {\n }\n}", "routes[0].backends: none: set backends on the route or at the top level, at Testfile:2"},
		{"every upstream a backup", "smartproxy {\n to a:1 b:2\n backup a:1 b:2\n}",
			"backends[1].backup: true: every backend of the route is a backup, so none would ever be used before another failed; make at least one a primary, at Testfile:3"},
		{"discovery port with SRV", "smartproxy {\n discovery dns _a._tcp.b {\n  type SRV\n  port 80\n }\n}",
			"discovery.dns.port: invalid dns discovery config: port 80: not allowed with type SRV: the records give the ports, at Testfile:4"},
		{"discovery without name", "smartproxy {\n discovery dns {\n  port 80\n }\n}",
			`discovery.dns.name: invalid dns discovery config: name "": required, at Testfile:2`},
		{"admin state bad store", "smartproxy {\n to a:1\n admin_state {\n  store etcd\n }\n}", `admin_state.store: "etcd": must be redis, at Testfile:4`},
		{"admin state bad address", "smartproxy {\n to a:1\n admin_state {\n  store redis\n  redis {\n   address nope\n  }\n }\n}", `admin_state.redis.address: "nope": must be host:port with a port of 1 to 65535, at Testfile:6`},
		{"nested key", "smartproxy {\n to a:1\n cache {\n  max_bytes 10\n  max_entry_bytes 20\n }\n}",
			"cache.max_entry_bytes: 20: larger than max_bytes 10, at Testfile:5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := adaptCaddyfile(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant one containing %q", err, tc.want)
			}
		})
	}
	h, err := adaptCaddyfile(caddyfile.NewTestDispenser("smartproxy {\n to a:1 b:2\n rate_limit 100 burst 10 {\n  key {http.request.header.X-Key}\n  key_fallback refuse\n }\n}"))
	if err != nil || h.RateLimit.KeyFallback != "refuse" || len(h.Backends) != 2 {
		t.Fatalf("valid block: %v %+v", err, h)
	}
}

func FuzzUnmarshalCaddyfile(f *testing.F) {
	f.Add("smartproxy {\n to a:1 b:2\n weight b:2 3\n lb_policy p2c\n route x/y {\n to c:3\n }\n}")
	f.Add("smartproxy {\n rate_limit 1.5 burst 2 {\n key {a}\n }\n cache {\n ttl 1s\n }\n}")
	f.Add("smartproxy {\n to a:1 b:2\n backup b:2\n stream_close_delay 1s\n discovery dns x.internal {\n type SRV\n resolvers 127.0.0.1\n }\n}")
	f.Fuzz(func(t *testing.T, input string) {
		tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
		if err != nil || len(tokens) == 0 {
			return
		}
		// Parsing and the adapt-time validation, which maps errors to
		// lines, must never panic.
		_, _ = adaptCaddyfile(caddyfile.NewDispenser(tokens))
	})
}
