package yamladapter

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/config"
)

// ok is a valid backends section, for inputs that test something else.
const ok = "backends:\n  - url: http://localhost:3001\n"

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        string
		line, col int // col 0: not checked
		is        error
		want      []string
	}{
		{"unknown top-level key with suggestion",
			"server:\n  port: 8080\nhelth_check:\n  interval: 5s\n", 3, 1, ErrUnknownKey,
			[]string{`unknown key "helth_check" in the top level (did you mean "health_check"?)`}},
		{"unknown nested key",
			ok + "health_check:\n  intervl: 5s\n", 4, 3, ErrUnknownKey,
			[]string{`unknown key "intervl" in health_check (did you mean "interval"?)`}},
		{"unknown key in a route",
			ok + "routes:\n  - host: a.example.com\n  - host: b.example.com\n    pth: /x\n", 6, 5, ErrUnknownKey,
			[]string{`unknown key "pth" in routes[1] (did you mean "path"?)`}},
		{"unknown key in a backend",
			"backends:\n  - url: http://a\n    wieght: 2\n", 3, 5, ErrUnknownKey,
			[]string{`"wieght" in backends[0] (did you mean "weight"?)`}},
		{"unknown key far from any",
			ok + "frobnicate: 1\n", 3, 1, ErrUnknownKey,
			[]string{`unknown key "frobnicate" in the top level (known keys: server, timeouts, backends,`}},
		{"unknown server key",
			"server:\n  prot: 80\n", 2, 3, ErrUnknownKey,
			[]string{`unknown key "prot" in server (did you mean "port"?)`}},
		{"tab indents a key", ok + "health_check:\n\tinterval: 5s\n", 4, 1, ErrSyntax,
			[]string{"tabs are not allowed in YAML indentation; indent with spaces"}},
		{"tab after spaces, reported a line early by yaml.v3", "server:\n  port: 8080\n \thost: x\n", 3, 1, ErrSyntax,
			[]string{"tabs are not allowed in YAML indentation"}},
		{"tab under a list item", "backends:\n  - url: http://a\n\t  weight: 2\n", 3, 1, ErrSyntax,
			[]string{"tabs are not allowed in YAML indentation"}},
		{"weights valid, shared store's address checked here", ok + "rate_limit:\n  requests_per_second: 1\n  burst: 1\n  store: redis\n  redis:\n    address: redis\n", 8, 14, config.ErrInvalid,
			[]string{`rate_limit.redis.address: invalid redis rate limit settings: address must be host:port, got "redis"`}},
		{"shared cache address, line of the value", ok + "cache:\n  shared:\n    store: redis\n    redis:\n      address: redis\n", 7, 16, config.ErrInvalid,
			[]string{`cache.shared.redis.address: invalid shared cache settings: address must be host:port with a port of 1 to 65535, got "redis"`}},
		{"shared cache unknown key", ok + "cache:\n  shared:\n    store: redis\n    lock_timout: 1s\n", 6, 5, ErrUnknownKey,
			[]string{`unknown key "lock_timout" in cache.shared (did you mean "lock_timeout"?)`}},
		{"every backend a backup", "backends:\n  - url: http://a\n    backup: true\n", 3, 13, config.ErrInvalid,
			[]string{"backends[0].backup: true: every backend of the route is a backup"}},
		{"discovery port with SRV", "discovery:\n  dns:\n    name: _api._tcp.internal\n    type: SRV\n    port: 80\n", 5, 11, config.ErrInvalid,
			[]string{"discovery.dns.port: invalid dns discovery config: port 80: not allowed with type SRV"}},
		{"discovery without name", "discovery:\n  dns:\n    port: 80\n", 3, 5, config.ErrInvalid,
			[]string{`discovery.dns.name: invalid dns discovery config: name "": required`}},
		{"negative stream close delay", ok + "stream_close_delay: -1s\n", 3, 21, config.ErrInvalid,
			[]string{"stream_close_delay: -1s: must not be negative"}},
		{"nanosecond duration", ok + "cache:\n  ttl: 30ns\n", 4, 8, config.ErrInvalid,
			[]string{`cache.ttl: 30ns: less than 1ms`}},
		{"sticky cookie name is not a token",
			ok + "load_balancer:\n  sticky:\n    cookie: \"sp route\"\n", 5, 13, config.ErrInvalid,
			[]string{`load_balancer.sticky.cookie: "sp route": a cookie name must be an HTTP token`}},
		{"negative backend cap",
			"backends:\n  - url: http://a\n  - url: http://b\n    max_requests: -4\n", 4, 19, config.ErrInvalid,
			[]string{`backends[1].max_requests: -4: must not be negative`}},
		{"negative queue size",
			ok + "load_balancer:\n  max_requests: 2\n  queue:\n    size: -1\n", 6, 11, config.ErrInvalid,
			[]string{`load_balancer.queue.size: -1: must not be negative`}},
		{"top-level timeout",
			ok + "timeout: 5s\n", 3, 1, ErrUnknownKey,
			[]string{`(did you mean "server.timeout"?)`}},
		{"port is a string",
			"server:\n  port: \"eighty\"\n", 2, 9, ErrType,
			[]string{`server.port: wrong type: want an integer, got the string "eighty"`}},
		{"port out of range",
			"server:\n  port: 70000\n" + ok, 2, 9, ErrValue,
			[]string{`server.port: invalid value 70000: want 1 to 65535`}},
		{"weight is not a number",
			"backends:\n  - url: http://a\n    weight: abc\n", 3, 13, ErrType,
			[]string{`backends[0].weight: wrong type: want an integer, got the string "abc"`}},
		{"mapping where a list is expected",
			"backends:\n  url: http://a\n", 2, 3, ErrType,
			[]string{`backends: wrong type: want a list, got a mapping`}},
		{"list where a mapping is expected",
			ok + "health_check:\n  - path: /x\n", 4, 3, ErrType,
			[]string{`health_check: wrong type: want a mapping, got a list`}},
		{"quoted boolean",
			ok + "rate_limit:\n  requests_per_second: 1\n  burst: 1\n  global: \"yes\"\n", 6, 11, ErrType,
			[]string{`rate_limit.global: wrong type: want true or false, got the string "yes"`}},
		{"boolean where a string is expected",
			ok + "health_check:\n  path: true\n", 4, 9, ErrType,
			[]string{`health_check.path: wrong type: want a string, got the boolean true`}},
		{"no value where a string is expected",
			ok + "health_check:\n  path:\n", 4, 0, ErrType,
			[]string{`health_check.path: wrong type: want a string, got no value`}},
		{"fraction where an integer is expected",
			ok + "rate_limit:\n  requests_per_second: 1\n  burst: 1.5\n", 5, 10, ErrType,
			[]string{`rate_limit.burst: wrong type: want an integer, got the number 1.5`}},
		{"integer overflow",
			ok + "rate_limit:\n  requests_per_second: 1\n  burst: 99999999999999999999\n", 5, 10, ErrValue,
			[]string{`rate_limit.burst: invalid value 99999999999999999999: integer out of range`}},
		{"not a finite number",
			ok + "health_check:\n  jitter: .nan\n", 4, 11, ErrValue,
			[]string{`health_check.jitter: invalid value .nan: want a finite number`}},
		{"custom tag",
			ok + "health_check:\n  path: !foo /x\n", 4, 9, ErrType,
			[]string{`tagged !foo`}},
		{"bad duration",
			ok + "health_check:\n  interval: 30x\n", 4, 13, ErrDuration,
			[]string{`health_check.interval: invalid duration "30x": want a number and a unit`}},
		{"bare number duration",
			"server:\n  timeout: 30\n", 2, 12, ErrDuration,
			[]string{`server.timeout: invalid duration 30: a duration needs a unit, e.g. "30s"`}},
		{"list as duration",
			ok + "cache:\n  ttl: [1]\n", 4, 8, ErrType,
			[]string{`cache.ttl: wrong type: want a duration such as "30s", got a list`}},
		{"bad url",
			"backends:\n  - url: http://localhost:3001\n  - url: ftp://localhost:3002\n", 3, 10, config.ErrInvalid,
			[]string{`backends[1].url: invalid backend url "ftp://localhost:3002": scheme must be http, https or h2c`}},
		{"url without host",
			"backends:\n  - url: \"http://\"\n", 2, 10, config.ErrInvalid,
			[]string{`backends[0].url:`, `missing host`}},
		{"duplicate backend",
			"backends:\n  - url: http://localhost:3001\n  - url: http://localhost:3001/\n", 3, 10, config.ErrInvalid,
			[]string{`backends[1].url: "http://localhost:3001/": duplicate of backends[0]`}},
		{"negative weight",
			"backends:\n  - url: http://a\n    weight: -1\n", 3, 13, config.ErrInvalid,
			[]string{`backends[0].weight: -1: must be 0 or more`}},
		{"admin state store",
			ok + "admin_state:\n  store: etcd\n", 4, 10, config.ErrInvalid,
			[]string{`admin_state.store: "etcd": must be redis`}},
		{"admin state redis address",
			ok + "admin_state:\n  store: redis\n  redis:\n    address: nope\n", 6, 14, config.ErrInvalid,
			[]string{`admin_state.redis.address: "nope": must be host:port`}},
		{"unknown algorithm",
			ok + "load_balancer:\n  algorithm: fastest\n", 4, 14, config.ErrInvalid,
			[]string{`load_balancer.algorithm: unknown algorithm "fastest"`}},
		{"negative server timeout maps to server.timeout",
			"server:\n  port: 8080\n  timeout: -5s\n" + ok, 3, 12, config.ErrInvalid,
			[]string{`server.timeout: -5s: must not be negative`}},
		{"missing required key points at its section",
			ok + "rate_limit:\n  burst: 5\n", 4, 3, config.ErrInvalid,
			[]string{`rate_limit.requests_per_second: required: the refill rate`}},
		{"route without backends points at the route",
			"routes:\n  - host: a.example.com\n    path: /a\n", 2, 5, config.ErrInvalid,
			[]string{`routes[0].backends: none`}},
		{"error in a later route",
			ok + "routes:\n  - host: a.example.com\n  - host: b.example.com\n    backends:\n      - url: http://b\n        weight: -3\n", 8, 17, config.ErrInvalid,
			[]string{`routes[1].backends[0].weight: -3: must be 0 or more`}},
		{"health check timeout over interval",
			ok + "health_check:\n  interval: 10s\n  timeout: 11s\n", 5, 12, config.ErrInvalid,
			[]string{`health_check.timeout: 11s: must not exceed interval 10s`}},
		{"duplicate top-level key",
			ok + "cache:\n  max_size: 1\ncache:\n  max_size: 2\n", 5, 1, ErrDuplicateKey,
			[]string{`cache: duplicate key "cache" (first at line 3)`}},
		{"duplicate nested key",
			"server:\n  port: 1\n  port: 2\n", 3, 3, ErrDuplicateKey,
			[]string{`server.port: duplicate key "port" (first at line 2)`}},
		{"duplicate key in Caddy's config",
			"apps:\n  http: {}\n  http: {}\n", 3, 3, ErrDuplicateKey,
			[]string{`apps.http: duplicate key "http"`}},
		{"bad bind host",
			"server:\n  host: \"a b\"\n" + ok, 2, 9, ErrValue,
			[]string{`server.host: invalid value "a b"`}},
		{"host with a port",
			"server:\n  host: \"localhost:80\"\n" + ok, 2, 9, ErrValue,
			[]string{`without a port (use server.port)`}},
		{"admin is a list",
			ok + "admin: [x]\n", 3, 8, ErrType,
			[]string{`admin: wrong type: want a listen address such as localhost:2019, or off; got a list`}},
		{"admin address without a port",
			ok + "admin: localhost\n", 3, 8, ErrValue,
			[]string{`admin: invalid value "localhost"`}},
		{"unknown logging level with suggestion",
			ok + "logging: warning\n", 3, 10, ErrValue,
			[]string{`logging: invalid value "warning": want one of debug, info, warn, error (did you mean "warn"?)`}},
		{"mixed formats",
			"apps: {}\nbackends: []\n", 2, 1, ErrMixed,
			[]string{`"backends" is the smartproxy format, but "apps" at line 1 is Caddy's own config`}},
		{"mixed formats by a mapping",
			ok + "logging:\n  logs: {}\n", 3, 1, ErrMixed,
			[]string{`"logging" as a mapping is Caddy's own config, but "backends" at line 1 is the smartproxy format`}},
		{"unknown key in Caddy's config",
			"apps: {}\nstorge: {}\n", 2, 1, ErrUnknownKey,
			[]string{`unknown key "storge" in Caddy's config (did you mean "storage"?)`}},
		{"unknown key of either format",
			"apss: {}\n", 1, 1, ErrUnknownKey,
			[]string{`unknown key "apss" in the top level (did you mean "apps"?)`}},
		{"syntax error",
			"backends:\n  - url: http://a\n   weight: 1\n", 3, 0, ErrSyntax,
			[]string{`invalid yaml:`}},
		{"tab indentation",
			"server:\n\tport: 8080\n", 2, 0, ErrSyntax,
			[]string{`invalid yaml:`}},
		{"control character",
			ok + "cache: {max_size: 1}\x01\n", 3, 21, ErrSyntax,
			[]string{`control characters are not allowed`}},
		{"invalid utf-8",
			ok + "# \xff\n", 3, 3, ErrSyntax,
			[]string{`invalid yaml:`}},
		{"empty input", "", 1, 0, ErrEmpty, []string{`the input is empty`}},
		{"only comments", "# nothing\n", 1, 0, ErrEmpty, []string{`empty`}},
		{"only null", "~\n", 1, 1, ErrEmpty, []string{`the document is empty`}},
		{"two documents", ok + "---\n" + ok, 3, 1, ErrEmpty, []string{`a second document starts here`}},
		{"top level is a list", "- a\n- b\n", 1, 1, ErrType,
			[]string{`wrong type of the top level: want a mapping, got a list`}},
		{"unknown alias", ok + "cache: *nope\n", 3, 0, ErrSyntax, []string{`unknown anchor 'nope'`}},
		{"alias cycle", "apps: &a\n  x: *a\n", 2, 6, ErrSyntax, []string{`alias *a contains itself`}},
		{"merge of a scalar", "backends:\n  - <<: 5\n    url: http://a\n", 2, 9, ErrType,
			[]string{`of merge (<<): want a mapping or a list of mappings, got the number 5`}},
		{"mapping as a key", "? {a: 1}\n: 1\n", 1, 3, ErrType, []string{`of mapping key`}},
		{"infinity in Caddy's config", "apps:\n  x: .inf\n", 2, 6, ErrValue, []string{`JSON has no such number`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, warnings, err := Adapter{}.Adapt([]byte(tc.in), map[string]any{"filename": "config.yaml"})
			if err == nil {
				t.Fatalf("no error; output %s", out)
			}
			if out != nil || warnings != nil {
				t.Errorf("error with output %q / warnings %v: must be all or nothing", out, warnings)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T %v, want *Error", err, err)
			}
			if e.Line != tc.line || (tc.col != 0 && e.Column != tc.col) {
				t.Errorf("at %d:%d, want %d:%d: %v", e.Line, e.Column, tc.line, tc.col, err)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v) is false: %v", tc.is, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config.yaml:"+strconv.Itoa(tc.line)+":") {
				t.Errorf("message %q does not start with config.yaml:%d:", msg, tc.line)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q\n does not contain %q", msg, w)
				}
			}
		})
	}
}

// TestValidationErrorUnwraps checks that a validation error still carries
// the config package's *config.Error, with its own path.
func TestValidationErrorUnwraps(t *testing.T) {
	_, _, err := Adapter{}.Adapt([]byte("server:\n  timeout: -1s\n"+ok), nil)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Path != "timeout" {
		t.Fatalf("errors.As *config.Error: %v (%#v)", err, ce)
	}
	var e *Error
	if !errors.As(err, &e) || e.Path != "server.timeout" {
		t.Fatalf("errors.As *Error: %v", err)
	}
}

// TestSyntaxErrorLineInLongFile: yaml.v3 reports the line where the list
// starts; the adapter must find the line of the mistake itself.
func TestSyntaxErrorLineInLongFile(t *testing.T) {
	body := "backends:\n" + strings.Repeat("  - url: http://a\n", 1500) + "   weight: 1\n" +
		strings.Repeat("# trailing comment\n", 10)
	_, _, err := Adapter{}.Adapt([]byte(body), nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrSyntax) || e.Line != 1502 {
		t.Fatalf("err = %v, want a syntax error at line 1502", err)
	}
}

// TestAliasBomb: nested aliases that would expand to a billion nodes are
// refused after a bounded walk, at the line of an anchor.
func TestAliasBomb(t *testing.T) {
	body := "apps:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		body += "  " + n + ": &" + n + " [" + strings.Repeat("*"+prev+", ", 9) + "*" + prev + "]\n"
		prev = n
	}
	_, _, err := Adapter{}.Adapt([]byte(body), nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrTooLarge) || e.Line < 2 || e.Line > 10 {
		t.Fatalf("err = %v, want ErrTooLarge at an anchor's line", err)
	}
}
