package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name     string
		json     string
		wantPath string // "" = valid
		wantText string
	}{
		{"seed", `{"timeout":"30s","backends":[{"url":"http://localhost:3001","weight":1},{"url":"http://localhost:3002","weight":2}],
			"load_balancer":{"algorithm":"round_robin"},"health_check":{"interval":"30s","timeout":"10s","path":"/health"},
			"rate_limit":{"requests_per_second":100,"burst":10},"cache":{"max_size":1000,"ttl":"300s"}}`, "", ""},
		{"no backends, routes only", `{"routes":[{"path":"/a","backends":[{"url":"http://a"}]}]}`, "", ""},
		{"empty", `{}`, "", ""},
		{"negative timeout", `{"timeout":"-1s"}`, "timeout", "-1s"},
		{"bad scheme", `{"backends":[{"url":"ftp://a"}]}`, "backends[0].url", "ftp://a"},
		{"no host", `{"backends":[{"url":"http:///x"}]}`, "backends[0].url", "missing host"},
		{"query in url", `{"backends":[{"url":"http://a/?x=1"}]}`, "backends[0].url", "query"},
		{"negative weight", `{"backends":[{"url":"http://a","weight":-1}]}`, "backends[0].weight", "-1"},
		{"admin state shared", `{"backends":[{"url":"http://a"}],"admin_state":{"store":"redis","redis":{"address":"127.0.0.1:6379","timeout":"500ms"}}}`, "", ""},
		{"admin state sentinel", `{"backends":[{"url":"http://a"}],"admin_state":{"store":"redis","redis":{"addresses":["10.0.0.1:26379"],"master_name":"m"}}}`, "", ""},
		{"admin state placeholder address", `{"backends":[{"url":"http://a"}],"admin_state":{"store":"redis","redis":{"address":"{env.REDIS}"}}}`, "", ""},
		{"admin state no store", `{"backends":[{"url":"http://a"}],"admin_state":{"redis":{"address":"127.0.0.1:6379"}}}`, "admin_state.store", "required: redis"},
		{"admin state bad store", `{"backends":[{"url":"http://a"}],"admin_state":{"store":"etcd"}}`, "admin_state.store", `"etcd": must be redis`},
		{"admin state no redis", `{"backends":[{"url":"http://a"}],"admin_state":{"store":"redis"}}`, "admin_state.redis", "required with store redis"},
		{"admin state no address", `{"backends":[{"url":"http://a"}],"admin_state":{"store":"redis","redis":{}}}`, "admin_state.redis.address", "required"},
		{"admin state bad address", `{"backends":[{"url":"http://a"}],"admin_state":{"store":"redis","redis":{"address":"redis"}}}`, "admin_state.redis.address", `"redis": must be host:port`},
		{"admin state bad port", `{"backends":[{"url":"http://a"}],"admin_state":{"store":"redis","redis":{"addresses":["a:1","b:99999"]}}}`, "admin_state.redis.addresses[1]", `"b:99999"`},
		{"admin state lease", `{"backends":[{"url":"http://a"}],"admin_state":{"store":"redis","redis":{"address":"a:1","lease_size":5}}}`, "admin_state.redis.lease_size", "applies only to rate_limit.redis"},
		{"admin state negative timeout", `{"backends":[{"url":"http://a"}],"admin_state":{"store":"redis","redis":{"address":"a:1","timeout":"-1s"}}}`, "admin_state.redis.timeout", "-1s"},
		{"weight too large", `{"backends":[{"url":"http://a","weight":1000001}]}`, "backends[0].weight", "1000001: must be at most 1000000"},
		{"all zero", `{"backends":[{"url":"http://a","weight":0},{"url":"http://b","weight":0}]}`, "backends", "every weight is 0"},
		{"zero weight drains one", `{"backends":[{"url":"http://a","weight":0},{"url":"http://b"}]}`, "", ""},
		{"backup beside a primary", `{"backends":[{"url":"http://a"},{"url":"http://b","backup":true}]}`, "", ""},
		{"every backend a backup", `{"backends":[{"url":"http://a","backup":true},{"url":"http://b","backup":true}]}`, "backends[1].backup", "every backend of the route is a backup"},
		{"route of backups only", `{"backends":[{"url":"http://a"}],"routes":[{"path":"/x","backends":[{"url":"http://b","backup":true}]}]}`, "routes[0].backends[0].backup", "true"},
		{"backups beside discovery", `{"backends":[{"url":"http://a","backup":true}],"discovery":{"dns":{"name":"api.internal"}}}`, "", ""},
		{"negative stream close delay", `{"backends":[{"url":"http://a"}],"stream_close_delay":"-1s"}`, "stream_close_delay", "must not be negative"},
		{"duplicate", `{"backends":[{"url":"http://A:80"},{"url":"http://a"}]}`, "backends[1].url", "duplicate of backends[0]"},
		{"a backend's own tls on http", `{"backends":[{"url":"http://a"},{"url":"http://b","tls":{"server_name":"b"}}]}`, "backends[1].tls", "TLS settings apply to https:// backends"},
		{"a route's backend's own tls on http", `{"routes":[{"path":"/r","backends":[{"url":"http://a"},{"url":"http://b","tls":{}}]}]}`, "routes[0].backends[1].tls", "http://"},
		{"tls on http", `{"backends":[{"url":"http://a"}],"tls":{}}`, "tls", "TLS settings apply to https:// backends"},
		{"unknown algorithm", `{"load_balancer":{"algorithm":"fastest"}}`, "load_balancer.algorithm", `"fastest"`},
		{"header_hash needs header", `{"load_balancer":{"algorithm":"header_hash"}}`, "load_balancer.hash_header", "required"},
		{"hash_header wrong algorithm", `{"load_balancer":{"hash_header":"X"}}`, "load_balancer.hash_header", "round_robin"},
		{"panic threshold", `{"load_balancer":{"panic_threshold":1.5}}`, "load_balancer.panic_threshold", "1.5"},
		{"hc timeout > interval", `{"health_check":{"interval":"5s","timeout":"6s"}}`, "health_check.timeout", "must not exceed interval"},
		{"hc timeout = interval", `{"health_check":{"interval":"1s","timeout":"1s"}}`, "", ""},
		{"hc bad status", `{"health_check":{"expect_status":"2xy"}}`, "health_check.expect_status", `"2xy"`},
		{"hc bad regex", `{"health_check":{"expect_body":"("}}`, "health_check.expect_body", `"("`},
		{"hc negative rise", `{"health_check":{"healthy_threshold":-1}}`, "health_check.healthy_threshold", "-1"},
		{"hc bad state", `{"health_check":{"initial_state":"maybe"}}`, "health_check.initial_state", "maybe"},
		{"dns discovery", `{"discovery":{"dns":{"name":"api.internal","type":"A","port":8080,"scheme":"http","refresh":"30s","resolvers":["127.0.0.1:53"],"weight":1}}}`, "", ""},
		{"dns discovery srv", `{"discovery":{"dns":{"name":"_api._tcp.internal","type":"SRV"}}}`, "", ""},
		{"discovery without dns", `{"discovery":{}}`, "discovery.dns", "required"},
		{"dns without name", `{"discovery":{"dns":{"port":80}}}`, "discovery.dns.name", "required"},
		{"dns port with srv", `{"discovery":{"dns":{"name":"_a._tcp.b","type":"SRV","port":80}}}`, "discovery.dns.port", "not allowed with type SRV"},
		{"dns bad type", `{"discovery":{"dns":{"name":"a","type":"MX"}}}`, "discovery.dns.type", `"MX"`},
		{"dns bad resolver", `{"discovery":{"dns":{"name":"a","resolvers":["127.0.0.1:53","ns.example"]}}}`, "discovery.dns.resolvers[1]", `"ns.example"`},
		{"dns short refresh", `{"discovery":{"dns":{"name":"a","refresh":"100ms"}}}`, "discovery.dns.refresh", "at least 1s"},
		{"dns negative weight", `{"discovery":{"dns":{"name":"a","weight":-2}}}`, "discovery.dns.weight", "-2"},
		{"dns scheme differs", `{"backends":[{"url":"h2c://a:1"}],"discovery":{"dns":{"name":"a"}}}`, "discovery.dns.scheme", `"http"`},
		{"route with discovery only", `{"routes":[{"path":"/a","discovery":{"dns":{"name":"a"}}}]}`, "", ""},
		{"route inherits discovery", `{"discovery":{"dns":{"name":"a"}},"routes":[{"path":"/a"}]}`, "", ""},
		{"hc grpc", `{"backends":[{"url":"h2c://a:1"}],"health_check":{"type":"grpc","service":"pkg.Api"}}`, "", ""},
		{"hc bad type", `{"health_check":{"type":"tcp"}}`, "health_check.type", `"tcp"`},
		{"hc service without grpc", `{"health_check":{"service":"x"}}`, "health_check.service", "only used by type grpc"},
		{"hc grpc over http", `{"backends":[{"url":"http://a:1"}],"health_check":{"type":"grpc"}}`, "health_check.type", "h2c:// or https://"},
		{"hc grpc over discovered http", `{"discovery":{"dns":{"name":"a"}},"health_check":{"type":"grpc"}}`, "health_check.type", "h2c:// or https://"},
		{"hc grpc inherited by http route", `{"backends":[{"url":"h2c://a:1"}],"health_check":{"type":"grpc"},"routes":[{"path":"/a","backends":[{"url":"http://b"}]}]}`, "routes[0].backends", "h2c:// or https://"},
		{"hc bad unhealthy status", `{"health_check":{"unhealthy_statuses":[500,99]}}`, "health_check.unhealthy_statuses[1]", "99"},
		{"hc bad path", `{"health_check":{"path":"health"}}`, "health_check.path", "health"},
		{"cb negative", `{"circuit_breaker":{"failure_threshold":-3}}`, "circuit_breaker.failure_threshold", "-3"},
		{"cb ratio", `{"circuit_breaker":{"error_ratio":2}}`, "circuit_breaker.error_ratio", "2"},
		{"cb backoff order", `{"circuit_breaker":{"base_backoff":"10s","max_backoff":"1s"}}`, "circuit_breaker.max_backoff", "base_backoff"},
		{"rl zero rate", `{"rate_limit":{"burst":1}}`, "rate_limit.requests_per_second", "0"},
		{"rl negative rate", `{"rate_limit":{"requests_per_second":-5,"burst":1}}`, "rate_limit.requests_per_second", "-5"},
		{"rl zero burst", `{"rate_limit":{"requests_per_second":1}}`, "rate_limit.burst", "0"},
		{"rl bad key", `{"rate_limit":{"requests_per_second":1,"burst":1,"key":"{http.request.header.X"}}`, "rate_limit.key", "unclosed"},
		{"rl empty placeholder", `{"rate_limit":{"requests_per_second":1,"burst":1,"key":"a{}b"}}`, "rate_limit.key", "empty placeholder"},
		{"rl global with key", `{"rate_limit":{"requests_per_second":1,"burst":1,"global":true,"key":"{a}"}}`, "rate_limit.key", "global"},
		{"rl fractional", `{"rate_limit":{"requests_per_second":0.5,"burst":1}}`, "", ""},
		{"cache negative size", `{"cache":{"max_size":-1}}`, "cache.max_size", "-1"},
		{"cache negative ttl", `{"cache":{"ttl":"-5s"}}`, "cache.ttl", "-5s"},
		{"cache entry over total", `{"cache":{"max_bytes":10,"max_entry_bytes":20}}`, "cache.max_entry_bytes", "20"},
		{"cache bad tag header", `{"cache":{"tag_headers":["Surrogate Key"]}}`, "cache.tag_headers", "Surrogate Key"},
		{"cache bad target", `{"cache":{"targets":["cdn:x"]}}`, "cache.targets", "cdn:x"},
		{"cache heuristic fraction", `{"cache":{"heuristic":{"fraction":1.5}}}`, "cache.heuristic.fraction", "1.5"},
		{"cache heuristic without fraction", `{"cache":{"heuristic":{"max":"1h"}}}`, "cache.heuristic.fraction", "0"},
		{"cache heuristic max", `{"cache":{"heuristic":{"fraction":0.1,"max":"-1h"}}}`, "cache.heuristic.max", "-1h"},
		{"cache negative stale_while_revalidate", `{"cache":{"stale_while_revalidate":"-1s"}}`, "cache.stale_while_revalidate", "-1s"},
		{"shared cache", `{"cache":{"shared":{"store":"redis","redis":{"address":"127.0.0.1:6379","password":"{env.P}"},"max_entry_bytes":262144,"timeout":"50ms","lock_timeout":"2s"}}}`, "", ""},
		{"shared cache cluster", `{"cache":{"shared":{"store":"redis","redis":{"addresses":["10.0.0.1:7000","10.0.0.2:7000"]}}}}`, "", ""},
		{"shared cache sentinel", `{"cache":{"shared":{"store":"redis","redis":{"addresses":["s1:26379"],"master_name":"mymaster"}}}}`, "", ""},
		{"shared cache placeholder address", `{"cache":{"shared":{"store":"redis","redis":{"address":"{env.REDIS_ADDR}"}}}}`, "", ""},
		{"shared cache no store", `{"cache":{"shared":{"redis":{"address":"a:1"}}}}`, "cache.shared.store", "required"},
		{"shared cache bad store", `{"cache":{"shared":{"store":"memcached","redis":{"address":"a:1"}}}}`, "cache.shared.store", `"memcached"`},
		{"shared cache no redis", `{"cache":{"shared":{"store":"redis"}}}`, "cache.shared.redis", "required"},
		{"shared cache no address", `{"cache":{"shared":{"store":"redis","redis":{}}}}`, "cache.shared.redis.address", "required"},
		{"shared cache both addresses", `{"cache":{"shared":{"store":"redis","redis":{"address":"a:1","addresses":["b:1"]}}}}`, "cache.shared.redis.addresses", "not both"},
		{"shared cache bad address", `{"cache":{"shared":{"store":"redis","redis":{"address":"localhost"}}}}`, "cache.shared.redis.address", `"localhost"`},
		{"shared cache bad cluster address", `{"cache":{"shared":{"store":"redis","redis":{"addresses":["a:1","b:99999"]}}}}`, "cache.shared.redis.addresses", `"b:99999"`},
		{"shared cache master without sentinels", `{"cache":{"shared":{"store":"redis","redis":{"address":"a:1","master_name":"m"}}}}`, "cache.shared.redis.master_name", "Sentinels"},
		{"shared cache redis timeout", `{"cache":{"shared":{"store":"redis","redis":{"address":"a:1","timeout":"1s"}}}}`, "cache.shared.redis.timeout", "shared.timeout"},
		{"shared cache lease", `{"cache":{"shared":{"store":"redis","redis":{"address":"a:1","lease_size":3}}}}`, "cache.shared.redis.lease_size", "rate_limit"},
		{"shared cache failure policy", `{"cache":{"shared":{"store":"redis","redis":{"address":"a:1","failure_policy":"fail_open"}}}}`, "cache.shared.redis.failure_policy", "fail_open"},
		{"shared cache negative timeout", `{"cache":{"shared":{"store":"redis","redis":{"address":"a:1"},"timeout":"-1s"}}}`, "cache.shared.timeout", "-1s"},
		{"shared cache negative lock", `{"cache":{"shared":{"store":"redis","redis":{"address":"a:1"},"lock_timeout":"-1s"}}}`, "cache.shared.lock_timeout", "-1s"},
		{"shared cache tiny lock", `{"cache":{"shared":{"store":"redis","redis":{"address":"a:1"},"lock_timeout":"1us"}}}`, "cache.shared.lock_timeout", "1ms"},
		{"shared cache entry size", `{"cache":{"shared":{"store":"redis","redis":{"address":"a:1"},"max_entry_bytes":-1}}}`, "cache.shared.max_entry_bytes", "-1"},
		{"shared cache huge entries", `{"cache":{"shared":{"store":"redis","redis":{"address":"a:1"},"max_entry_bytes":1000000000}}}`, "cache.shared.max_entry_bytes", "1000000000"},
		{"shared cache negative db", `{"cache":{"shared":{"store":"redis","redis":{"address":"a:1","db":-1}}}}`, "cache.shared.redis.db", "-1"},
		{"rate limit with addresses", `{"rate_limit":{"requests_per_second":1,"burst":1,"store":"redis","redis":{"address":"a:1","addresses":["b:1"]}}}`, "rate_limit.redis.addresses", "one address"},
		{"retries negative", `{"retries":{"count":-1}}`, "retries.count", "-1"},
		{"route host", `{"routes":[{"host":"a/b","backends":[{"url":"http://a"}]}]}`, "routes[0].host", "a/b"},
		{"route wildcard", `{"routes":[{"host":"a.*.com","backends":[{"url":"http://a"}]}]}`, "routes[0].host", "wildcard"},
		{"route path", `{"routes":[{"path":"v1","backends":[{"url":"http://a"}]}]}`, "routes[0].path", `"v1"`},
		{"route duplicate", `{"routes":[{"path":"/v1","backends":[{"url":"http://a"}]},{"path":"/v1/","backends":[{"url":"http://b"}]}]}`,
			"routes[1]", "routes[0]"},
		{"route no backends", `{"routes":[{"path":"/v1"}]}`, "routes[0].backends", "none"},
		{"route inherits backends", `{"backends":[{"url":"http://a"}],"routes":[{"path":"/v1"}]}`, "", ""},
		{"mixed schemes", `{"backends":[{"url":"http://a"},{"url":"h2c://b"}]}`, "backends[1].url", "share a scheme"},
		{"mixed schemes in a route", `{"routes":[{"backends":[{"url":"https://a"},{"url":"http://b"}]}]}`, "routes[0].backends[1].url", "backends[0] is https"},
		{"same scheme", `{"backends":[{"url":"https://a"},{"url":"https://b:8443"}]}`, "", ""},
		{"timeout as a JSON number", `{"timeout":30}`, "timeout", `30ns: less than 1ms; a JSON number counts nanoseconds, so write a string such as "30s"`},
		{"interval in nanoseconds", `{"health_check":{"interval":500}}`, "health_check.interval", "500ns"},
		{"redis timeout in nanoseconds", `{"rate_limit":{"requests_per_second":1,"burst":1,"store":"redis","redis":{"address":"a:1","timeout":100}}}`,
			"rate_limit.redis.timeout", "100ns"},
		{"route timeout in nanoseconds", `{"routes":[{"path":"/a","backends":[{"url":"http://a"}],"timeout":10}]}`, "routes[0].timeout", "10ns"},
		{"one millisecond", `{"timeout":"1ms","cache":{"coalesce_timeout":"1ms"}}`, "", ""},
		{"algorithm typo", `{"load_balancer":{"algorithm":"round-robin"}}`, "load_balancer.algorithm", `did you mean "round_robin"?`},
		{"rl burst missing", `{"rate_limit":{"requests_per_second":100}}`, "rate_limit.burst", "required: the bucket size"},
		{"rl rate missing", `{"rate_limit":{"burst":10}}`, "rate_limit.requests_per_second", "required"},
		{"rl fallback", `{"rate_limit":{"requests_per_second":1,"burst":1,"key":"{http.request.header.X-Api-Key}","key_fallback":"refuse"}}`, "", ""},
		{"rl fallback typo", `{"rate_limit":{"requests_per_second":1,"burst":1,"key":"{a}","key_fallback":"client-ip"}}`,
			"rate_limit.key_fallback", `did you mean "client_ip"?`},
		{"rl fallback without key", `{"rate_limit":{"requests_per_second":1,"burst":1,"key_fallback":"shared"}}`,
			"rate_limit.key_fallback", "only with a key expression"},
		{"caps and queue", `{"backends":[{"url":"http://a","max_requests":5},{"url":"http://b"}],"load_balancer":{"max_requests":10,"queue":{"size":1000,"timeout":"5s"}}}`, "", ""},
		{"negative backend cap", `{"backends":[{"url":"http://a","max_requests":-1}]}`, "backends[0].max_requests", "-1"},
		{"negative default cap", `{"load_balancer":{"max_requests":-5}}`, "load_balancer.max_requests", "-5"},
		{"negative queue size", `{"load_balancer":{"queue":{"size":-1}}}`, "load_balancer.queue.size", "-1"},
		{"negative queue timeout", `{"load_balancer":{"queue":{"timeout":"-1s"}}}`, "load_balancer.queue.timeout", "-1s"},
		{"route negative cap", `{"routes":[{"path":"/a","backends":[{"url":"http://a","max_requests":-2}]}]}`, "routes[0].backends[0].max_requests", "-2"},
		{"sticky", `{"load_balancer":{"algorithm":"least_connections","sticky":{"cookie":"sp_route","max_age":"1h","secure":true,"http_only":true,"same_site":"strict","secret":"0123456789abcdef"}}}`, "", ""},
		{"sticky defaults", `{"load_balancer":{"sticky":{}}}`, "", ""},
		{"sticky cookie not a token", `{"load_balancer":{"sticky":{"cookie":"sp route"}}}`, "load_balancer.sticky.cookie", `"sp route"`},
		{"sticky cookie with a separator", `{"load_balancer":{"sticky":{"cookie":"a=b"}}}`, "load_balancer.sticky.cookie", `"a=b"`},
		{"sticky cookie with a semicolon", `{"load_balancer":{"sticky":{"cookie":"a;"}}}`, "load_balancer.sticky.cookie", `"a;"`},
		{"sticky negative max_age", `{"load_balancer":{"sticky":{"max_age":"-1s"}}}`, "load_balancer.sticky.max_age", "-1s"},
		{"sticky sub-second max_age", `{"load_balancer":{"sticky":{"max_age":"500ms"}}}`, "load_balancer.sticky.max_age", "whole seconds"},
		{"sticky same_site", `{"load_balancer":{"sticky":{"same_site":"Loose"}}}`, "load_balancer.sticky.same_site", `"Loose"`},
		{"sticky same_site none without secure", `{"load_balancer":{"sticky":{"same_site":"none","secure":false}}}`, "load_balancer.sticky.same_site", "without Secure"},
		{"sticky same_site none", `{"load_balancer":{"sticky":{"same_site":"none"}}}`, "", ""},
		{"sticky short secret", `{"load_balancer":{"sticky":{"secret":"hunter2"}}}`, "load_balancer.sticky.secret", "7 bytes: too short"},
		{"sticky secret placeholder", `{"load_balancer":{"sticky":{"secret":"{env.STICKY_SECRET}"}}}`, "", ""},
		{"sticky with a set-cookie cache", `{"load_balancer":{"sticky":{}},"cache":{"allow_set_cookie":true}}`, "cache.allow_set_cookie", "sticky cookie"},
		{"route sticky under a set-cookie cache", `{"backends":[{"url":"http://a"}],"cache":{"allow_set_cookie":true},"routes":[{"path":"/a","load_balancer":{"sticky":{}}}]}`,
			"routes[0].load_balancer.sticky", "sticky cookie"},
		{"sticky with a cache", `{"load_balancer":{"sticky":{}},"cache":{"max_size":10}}`, "", ""},
		{"route section error", `{"routes":[{"path":"/v1","backends":[{"url":"http://a"}],"rate_limit":{"requests_per_second":1}}]}`,
			"routes[0].rate_limit.burst", "0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			if err := json.Unmarshal([]byte(tc.json), &c); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if tc.wantPath == "" {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want a *config.Error", err)
			}
			if ce.Path != tc.wantPath || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("got path %q, error %q; want path %q mentioning %q", ce.Path, err, tc.wantPath, tc.wantText)
			}
		})
	}
}

func TestRouteInheritsSections(t *testing.T) {
	var c Config
	if err := json.Unmarshal([]byte(`{"timeout":"5s","backends":[{"url":"http://a"}],
		"rate_limit":{"requests_per_second":1,"burst":2},"cache":{"max_size":3},
		"routes":[{"path":"/x","rate_limit":{"requests_per_second":9,"burst":9}},{"path":"/y","timeout":"1s","backends":[{"url":"http://b"}]}]}`), &c); err != nil {
		t.Fatal(err)
	}
	x := c.Route(0)
	if x.RateLimit.Burst != 9 || x.Cache.MaxSize != 3 || x.Timeout != c.Timeout || x.Backends[0].URL != "http://a" {
		t.Fatalf("route 0 effective section %+v", x)
	}
	y := c.Route(1)
	if y.RateLimit.Burst != 2 || y.Timeout == c.Timeout || y.Backends[0].URL != "http://b" {
		t.Fatalf("route 1 effective section %+v", y)
	}
}

func TestValidateRedisStore(t *testing.T) {
	cases := []struct{ json, path, text string }{
		{`{"requests_per_second":1,"burst":1,"store":"redis","redis":{"address":"127.0.0.1:6379"}}`, "", ""},
		{`{"requests_per_second":1,"burst":1,"store":"memcached"}`, "rate_limit.store", "memcached"},
		{`{"requests_per_second":1,"burst":1,"store":"redis"}`, "rate_limit.redis.address", "required"},
		{`{"requests_per_second":1,"burst":1,"redis":{"address":"x:1"}}`, "rate_limit.redis", "store"},
		{`{"requests_per_second":1,"burst":1,"store":"redis","redis":{"address":"x:1","failure_policy":"maybe"}}`, "rate_limit.redis.failure_policy", "maybe"},
		{`{"requests_per_second":1,"burst":1,"store":"redis","redis":{"address":"x:1","timeout":"-1s"}}`, "rate_limit.redis.timeout", "-1s"},
		{`{"requests_per_second":1,"burst":1,"store":"redis","redis":{"address":"localhost"}}`, "rate_limit.redis.address", `host:port, got "localhost"`},
		{`{"requests_per_second":1,"burst":1,"store":"redis","redis":{"address":"localhost:70000"}}`, "rate_limit.redis.address", "1 to 65535"},
		{`{"requests_per_second":1e-9,"burst":2,"store":"redis","redis":{"address":"x:1"}}`, "rate_limit.burst", "time to refill"},
		{`{"requests_per_second":1,"burst":2000000000,"store":"redis","redis":{"address":"x:1"}}`, "rate_limit.burst", "between 1 and 1000000000"},
		{`{"requests_per_second":1,"burst":1,"store":"redis","redis":{"address":"{env.REDIS_ADDR}"}}`, "", ""},
		{`{"requests_per_second":1,"burst":1,"ipv6_prefix":1}`, "", ""},
		{`{"requests_per_second":1,"burst":1,"ipv6_prefix":64}`, "", ""},
		{`{"requests_per_second":1,"burst":1,"ipv6_prefix":128}`, "", ""},
		{`{"requests_per_second":1,"burst":1,"ipv6_prefix":129}`, "rate_limit.ipv6_prefix", "129"},
		{`{"requests_per_second":1,"burst":1,"ipv6_prefix":-1}`, "rate_limit.ipv6_prefix", "-1"},
		{`{"requests_per_second":1,"burst":1,"ipv6_prefix":48,"key":"{http.request.header.X-Api-Key}"}`, "rate_limit.ipv6_prefix", "default key"},
		{`{"requests_per_second":1,"burst":1,"ipv6_prefix":48,"global":true}`, "rate_limit.ipv6_prefix", "default key"},
	}
	for _, tc := range cases {
		var c Config
		if err := json.Unmarshal([]byte(`{"rate_limit":`+tc.json+`}`), &c); err != nil {
			t.Fatal(err)
		}
		err := c.Validate()
		if tc.path == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.json, err)
			}
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Path != tc.path || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: got %v, want path %s mentioning %q", tc.json, err, tc.path, tc.text)
		}
	}
}

func TestLibraryErrorsNameTheKey(t *testing.T) {
	cases := []struct{ json, path string }{
		{`{"circuit_breaker":{"window":"1ms"}}`, "circuit_breaker.window"},
		{`{"cache":{"max_entry_bytes":104857600}}`, "cache.max_entry_bytes"},
		{`{"health_check":{"jitter":0.9}}`, "health_check.jitter"},
		{`{"health_check":{"timeout":"1m"}}`, "health_check.timeout"},
	}
	for _, tc := range cases {
		var c Config
		if err := json.Unmarshal([]byte(tc.json), &c); err != nil {
			t.Fatal(err)
		}
		var ce *Error
		if err := c.Validate(); !errors.As(err, &ce) || ce.Path != tc.path {
			t.Errorf("%s: got %v (path %q), want path %s", tc.json, err, pathOf(ce), tc.path)
		}
	}
}

func pathOf(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Path
}
