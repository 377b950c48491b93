package smartproxy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-smartproxy/smartproxy/yamladapter"
)

// brokenConfigs are the mistakes a new user makes, each spelled in the
// front ends where it can be made (an empty spelling: not there), with
// what each front end's error must say. Every error names the key path (or
// the subdirective) and the bad value; the YAML and Caddyfile ones also the
// line.
var brokenConfigs = []struct {
	name               string
	json, yaml, cf     string
	jsonWant, yamlWant string
	cfWant             string
}{
	{name: "typo in a section",
		json:     `{"backends":[{"url":"http://a:1"}],"health_check":{"intervl":"30s"}}`,
		jsonWant: `unknown key "intervl" in health_check (did you mean "interval"?)`,
		yaml:     "backends:\n  - url: http://a:1\nhealth_check:\n  intervl: 30s\n",
		yamlWant: `config.yaml:4:3: unknown key "intervl" in health_check (did you mean "interval"?)`,
		cf:       "smartproxy {\n to a:1\n health_check {\n  intervl 30s\n }\n}",
		cfWant:   `health_check: unrecognized subdirective "intervl" (did you mean "interval"?), at Testfile:4`},
	{name: "typo at the top",
		json:     `{"backends":[{"url":"http://a:1"}],"load_balancing":{"algorithm":"p2c"}}`,
		jsonWant: `unknown key "load_balancing" in the top level (did you mean "load_balancer"?)`,
		yaml:     "backends:\n  - url: http://a:1\nload_balancing:\n  algorithm: p2c\n",
		yamlWant: `config.yaml:3:1: unknown key "load_balancing" in the top level (did you mean "load_balancer"?)`,
		cf:       "smartproxy {\n to a:1\n lb_polcy p2c\n}",
		cfWant:   `unrecognized subdirective "lb_polcy" (did you mean "lb_policy"?), at Testfile:3`},
	{name: "weight not a number",
		json:     `{"backends":[{"url":"http://a:1"},{"url":"http://b:2","weight":"2"}]}`,
		jsonWant: `backends[1].weight: wrong type: want an integer, got string "2"`,
		yaml:     "backends:\n  - url: http://a:1\n  - url: http://b:2\n    weight: \"2\"\n",
		yamlWant: `config.yaml:4:13: backends[1].weight: wrong type: want an integer`,
		cf:       "smartproxy {\n to a:1 b:2\n weight b:2 two\n}",
		cfWant:   `weight of b:2: "two" is not a whole number, at Testfile:3`},
	{name: "weight missing its number",
		yaml:     "backends:\n  - url: http://a:1\n    weight:\n",
		yamlWant: `config.yaml:3:12: backends[0].weight: wrong type: want an integer, got no value`,
		cf:       "smartproxy {\n to localhost:30002\n weight localhost:30002\n}",
		cfWant:   `weight of localhost:30002: the number is missing: want ` + "`weight <upstream> <weight>`" + `, at Testfile:3`},
	{name: "duration without a unit",
		json:     `{"backends":[{"url":"http://a:1"}],"timeout":"30"}`,
		jsonWant: `timeout: invalid duration: "30": want a number and a unit`,
		yaml:     "server:\n  timeout: 30\nbackends:\n  - url: http://a:1\n",
		yamlWant: `config.yaml:2:12: server.timeout: invalid duration 30: a duration needs a unit, e.g. "30s"`,
		cf:       "smartproxy {\n to a:1\n timeout 30\n}",
		cfWant:   `timeout: bad duration "30": a duration needs a unit, e.g. 30s or 30ms, at Testfile:3`},
	{name: "duration as a JSON number",
		json:     `{"backends":[{"url":"http://a:1"}],"timeout":30}`,
		jsonWant: `timeout: 30ns: less than 1ms; a JSON number counts nanoseconds, so write a string such as "30s"`},
	{name: "rate limit without burst",
		json:     `{"backends":[{"url":"http://a:1"}],"rate_limit":{"requests_per_second":100}}`,
		jsonWant: `rate_limit.burst: required: the bucket size`,
		yaml:     "backends:\n  - url: http://a:1\nrate_limit:\n  requests_per_second: 100\n",
		yamlWant: `config.yaml:4:3: rate_limit.burst: required: the bucket size`,
		cf:       "smartproxy {\n to a:1\n rate_limit 100\n}",
		cfWant:   `rate_limit.burst: required: the bucket size, how many requests may arrive at once, at least 1 (e.g. 10), at Testfile:3`},
	{name: "algorithm misspelt",
		json:     `{"backends":[{"url":"http://a:1"}],"load_balancer":{"algorithm":"round-robin"}}`,
		jsonWant: `load_balancer.algorithm: unknown algorithm "round-robin" (did you mean "round_robin"?)`,
		yaml:     "backends:\n  - url: http://a:1\nload_balancer:\n  algorithm: round-robin\n",
		yamlWant: `config.yaml:4:14: load_balancer.algorithm: unknown algorithm "round-robin" (did you mean "round_robin"?)`,
		cf:       "smartproxy {\n to a:1\n lb_policy round-robin\n}",
		cfWant:   `load_balancer.algorithm: unknown algorithm "round-robin" (did you mean "round_robin"?), at Testfile:3`},
	{name: "two schemes in one route",
		json:     `{"backends":[{"url":"http://a:1"},{"url":"h2c://b:2"}]}`,
		jsonWant: `backends[1].url: "h2c://b:2": one route's backends must share a scheme (backends[0] is http, this is h2c)`,
		yaml:     "backends:\n  - url: http://a:1\n  - url: h2c://b:2\n",
		yamlWant: `config.yaml:3:10: backends[1].url: "h2c://b:2": one route's backends must share a scheme`,
		cf:       "smartproxy {\n to a:1\n to h2c://b:2\n}",
		cfWant:   `backends[1].url: "h2c://b:2": one route's backends must share a scheme (backends[0] is http, this is h2c), at Testfile:3`},
	{name: "key fallback misspelt",
		json:     `{"backends":[{"url":"http://a:1"}],"rate_limit":{"requests_per_second":1,"burst":1,"key":"{http.request.header.X-Key}","key_fallback":"client-ip"}}`,
		jsonWant: `rate_limit.key_fallback: "client-ip": must be client_ip, refuse or shared (did you mean "client_ip"?)`,
		yaml:     "backends:\n  - url: http://a:1\nrate_limit:\n  requests_per_second: 1\n  burst: 1\n  key: \"{http.request.header.X-Key}\"\n  key_fallback: client-ip\n",
		yamlWant: `config.yaml:7:17: rate_limit.key_fallback: "client-ip": must be client_ip, refuse or shared (did you mean "client_ip"?)`,
		cf:       "smartproxy {\n to a:1\n rate_limit 1 burst 1 {\n  key {http.request.header.X-Key}\n  key_fallback client-ip\n }\n}",
		cfWant:   `rate_limit.key_fallback: "client-ip": must be client_ip, refuse or shared (did you mean "client_ip"?), at Testfile:5`},
	{name: "shared store without an address",
		json:     `{"backends":[{"url":"http://a:1"}],"rate_limit":{"requests_per_second":1,"burst":1,"store":"redis"}}`,
		jsonWant: `rate_limit.redis.address: required with store redis`,
		yaml:     "backends:\n  - url: http://a:1\nrate_limit:\n  requests_per_second: 1\n  burst: 1\n  store: redis\n",
		yamlWant: `config.yaml:4:3: rate_limit.redis.address: required with store redis`,
		cf:       "smartproxy {\n to a:1\n rate_limit 1 burst 1 {\n  store redis\n }\n}",
		cfWant:   `rate_limit.redis.address: required with store redis, at Testfile:3`},
	{name: "shared store port out of range",
		json:     `{"backends":[{"url":"http://a:1"}],"rate_limit":{"requests_per_second":1,"burst":1,"store":"redis","redis":{"address":"localhost:70000"}}}`,
		jsonWant: `rate_limit.redis.address: invalid redis rate limit settings: address port must be 1 to 65535, got "localhost:70000"`,
		yaml:     "backends:\n  - url: http://a:1\nrate_limit:\n  requests_per_second: 1\n  burst: 1\n  store: redis\n  redis:\n    address: localhost:70000\n",
		yamlWant: `config.yaml:8:14: rate_limit.redis.address: invalid redis rate limit settings: address port must be 1 to 65535`,
		cf:       "smartproxy {\n to a:1\n rate_limit 1 burst 1 {\n  store redis\n  redis {\n   address localhost:70000\n  }\n }\n}",
		cfWant:   `rate_limit.redis.address: invalid redis rate limit settings: address port must be 1 to 65535, got "localhost:70000", at Testfile:6`},
	{name: "check timeout over interval",
		json:     `{"backends":[{"url":"http://a:1"}],"health_check":{"interval":"5s","timeout":"6s"}}`,
		jsonWant: `health_check.timeout: 6s: must not exceed interval 5s`,
		yaml:     "backends:\n  - url: http://a:1\nhealth_check:\n  interval: 5s\n  timeout: 6s\n",
		yamlWant: `config.yaml:5:12: health_check.timeout: 6s: must not exceed interval 5s`,
		cf:       "smartproxy {\n to a:1\n health_check {\n  interval 5s\n  timeout 6s\n }\n}",
		cfWant:   `health_check.timeout: 6s: must not exceed interval 5s, at Testfile:5`},
	{name: "duplicate key",
		json:     `{"backends":[{"url":"http://a:1"}],"timeout":"1s","timeout":"2s"}`,
		jsonWant: `timeout: duplicate key: "timeout" is given twice in the top level`,
		yaml:     "backends:\n  - url: http://a:1\nbackends:\n  - url: http://b:1\n",
		yamlWant: `config.yaml:3:1: backends: duplicate key "backends" (first at line 1)`},
	{name: "negative weight",
		json:     `{"backends":[{"url":"http://a:1","weight":-1}]}`,
		jsonWant: `backends[0].weight: -1: must be 0 or more`,
		yaml:     "backends:\n  - url: http://a:1\n    weight: -1\n",
		yamlWant: `config.yaml:3:13: backends[0].weight: -1: must be 0 or more`,
		cf:       "smartproxy {\n to a:1\n weight a:1 -1\n}",
		cfWant:   `backends[0].weight: -1: must be 0 or more, at Testfile:3`},
	{name: "scheme not proxied",
		json:     `{"backends":[{"url":"ftp://a:1"}]}`,
		jsonWant: `backends[0].url: `,
		yaml:     "backends:\n  - url: ftp://a:1\n",
		yamlWant: `config.yaml:2:10: backends[0].url: `,
		cf:       "smartproxy {\n to ftp://a:1\n}",
		cfWant:   `backends[0].url: `},
	{name: "hash header without header_hash",
		json:     `{"backends":[{"url":"http://a:1"}],"load_balancer":{"algorithm":"p2c","hash_header":"X-User"}}`,
		jsonWant: `load_balancer.hash_header: "X-User": only used by algorithm header_hash, not p2c`,
		yaml:     "backends:\n  - url: http://a:1\nload_balancer:\n  algorithm: p2c\n  hash_header: X-User\n",
		yamlWant: `config.yaml:5:16: load_balancer.hash_header: "X-User": only used by algorithm header_hash, not p2c`,
		cf:       "smartproxy {\n to a:1\n lb_policy p2c X-User\n}",
		cfWant:   `load_balancer.hash_header: "X-User": only used by algorithm header_hash, not p2c, at Testfile:3`},
	{name: "tab in indentation",
		yaml:     "backends:\n  - url: http://a:1\nhealth_check:\n\tinterval: 5s\n",
		yamlWant: `config.yaml:4:1: invalid yaml: tabs are not allowed in YAML indentation; indent with spaces`},
	{name: "wrong type for a section",
		json:     `{"backends":[{"url":"http://a:1"}],"cache":true}`,
		jsonWant: `cache: wrong type: want an object, got boolean true`,
		yaml:     "backends:\n  - url: http://a:1\ncache: true\n",
		yamlWant: `config.yaml:3:8: cache: wrong type: want a mapping`,
		cf:       "smartproxy {\n to a:1\n cache on\n}",
		cfWant:   `cache: unexpected argument "on" before the block, at Testfile:3`},
}

// TestBrokenConfigs runs every broken config through each front end as
// Caddy would: the JSON through the handler's decoder and its Validate
// (what provisioning runs), the YAML through the adapter, the Caddyfile
// through the directive.
func TestBrokenConfigs(t *testing.T) {
	for _, tc := range brokenConfigs {
		t.Run(tc.name, func(t *testing.T) {
			if tc.json != "" {
				h := new(Handler)
				err := json.Unmarshal([]byte(tc.json), h)
				if err == nil {
					err = h.Validate()
				}
				if err == nil || !strings.Contains(err.Error(), tc.jsonWant) {
					t.Errorf("JSON: error\n %v\nwant it to contain\n %s", err, tc.jsonWant)
				}
			}
			if tc.yaml != "" {
				out, _, err := yamladapter.Adapter{}.Adapt([]byte(tc.yaml), map[string]any{"filename": "config.yaml"})
				if err == nil || !strings.HasPrefix(err.Error(), tc.yamlWant) || out != nil {
					t.Errorf("YAML: error\n %v\nwant it to start with\n %s", err, tc.yamlWant)
				}
			}
			if tc.cf != "" {
				_, err := adaptCaddyfile(caddyfile.NewTestDispenser(tc.cf))
				if err == nil || !strings.Contains(err.Error(), tc.cfWant) {
					t.Errorf("Caddyfile: error\n %v\nwant it to contain\n %s", err, tc.cfWant)
				}
			}
		})
	}
}

// TestHandlerJSONIsCaddys checks the decoder on the path Caddy takes:
// caddy.StrictUnmarshalJSON into the module value, which must reach the
// handler's UnmarshalJSON (and a valid config must come out whole).
func TestHandlerJSONIsCaddys(t *testing.T) {
	var m any = new(Handler)
	err := caddy.StrictUnmarshalJSON([]byte(`{"backends":[{"url":"http://a:1"}],"health_check":{"intervl":"1s"}}`), &m)
	if err == nil || !strings.Contains(err.Error(), `did you mean "interval"?`) {
		t.Fatalf("StrictUnmarshalJSON: %v; want the strict decoder's error", err)
	}
	m = new(Handler)
	if err := caddy.StrictUnmarshalJSON([]byte(`{"timeout":"5s","backends":[{"url":"http://a:1","weight":3}]}`), &m); err != nil {
		t.Fatal(err)
	}
	if h := m.(*Handler); h.Timeout != caddy.Duration(5e9) || *h.Backends[0].Weight != 3 {
		t.Fatalf("decoded %+v", h.Config)
	}
}
