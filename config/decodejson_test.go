package config

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestDecodeJSON(t *testing.T) {
	var c Config
	in := `{"timeout":"30s","backends":[{"url":"http://a:1","weight":2},{"url":"http://b:2"}],
		"health_check":{"interval":30000000000,"headers":{"Host":"x"}},"cache":null,
		"rate_limit":{"requests_per_second":0.5,"burst":1,"headers":false},
		"routes":[{"host":"api.example.com","path":"/v1","retries":{"count":0}}]}`
	if err := DecodeJSON([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	// encoding/json reads valid input the same way.
	var std Config
	if err := json.Unmarshal([]byte(in), &std); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, std) {
		t.Fatalf("DecodeJSON = %+v\nencoding/json = %+v", c, std)
	}
	if c.Timeout != caddy.Duration(30*time.Second) || c.HealthCheck.Interval != caddy.Duration(30*time.Second) ||
		*c.Backends[0].Weight != 2 || c.Routes[0].Retries.Count == nil || *c.Routes[0].Retries.Count != 0 {
		t.Fatalf("decoded %+v", c)
	}
}

// TestDecodeJSONErrors holds the JSON front end to the yaml adapter's
// standard: each error names the key path and the value as written.
func TestDecodeJSONErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		is       error
		want     string // the whole message
	}{
		{"typo in a section", `{"health_check":{"intervl":"30s"}}`, ErrUnknownKey,
			`unknown key "intervl" in health_check (did you mean "interval"?)`},
		{"typo at the top", `{"load_balancing":{}}`, ErrUnknownKey,
			`unknown key "load_balancing" in the top level (did you mean "load_balancer"?)`},
		{"typo in a route", `{"routes":[{"path":"/a","backend":[]}]}`, ErrUnknownKey,
			`unknown key "backend" in routes[0] (did you mean "backends"?)`},
		{"far from any key", `{"cache":{"zzzzzzzz":1}}`, ErrUnknownKey,
			`unknown key "zzzzzzzz" in cache (known keys: max_size, `},
		{"weight as a string", `{"backends":[{"url":"http://a"},{"url":"http://b","weight":"2"}]}`, ErrType,
			`backends[1].weight: wrong type: want an integer, got string "2"`},
		{"fractional weight", `{"backends":[{"url":"http://a","weight":1.5}]}`, ErrType,
			`backends[0].weight: wrong type: want an integer, got number 1.5`},
		{"huge integer", `{"cache":{"max_size":1e30}}`, ErrType, `cache.max_size: wrong type: 1e30: integer out of range`},
		{"duration without unit", `{"timeout":"30"}`, ErrDuration,
			`timeout: invalid duration: "30": want a number and a unit (ns, us, ms, s, m, h, d), e.g. "30s" or "1m30s"`},
		{"fractional nanoseconds", `{"timeout":1.5}`, ErrDuration, `timeout: invalid duration: 1.5: want a string such as "30s"`},
		{"duration as a bool", `{"timeout":true}`, ErrType, `timeout: wrong type: want a duration such as "30s", got boolean true`},
		{"section as a list", `{"rate_limit":[]}`, ErrType, `rate_limit: wrong type: want an object, got a list`},
		{"list as an object", `{"backends":{"url":"http://a"}}`, ErrType, `backends: wrong type: want a list, got an object`},
		{"bool as a string", `{"rate_limit":{"global":"yes"}}`, ErrType, `rate_limit.global: wrong type: want true or false, got string "yes"`},
		{"url as a number", `{"backends":[{"url":8080}]}`, ErrType, `backends[0].url: wrong type: want a string, got number 8080`},
		{"duplicate key", `{"timeout":"1s","timeout":"2s"}`, ErrDuplicateKey, `timeout: duplicate key: "timeout" is given twice in the top level`},
		{"duplicate header", `{"health_check":{"headers":{"A":"1","A":"2"}}}`, ErrDuplicateKey, `health_check.headers.A: duplicate key`},
		{"syntax", `{"timeout":}`, ErrSyntax, `timeout: invalid json: invalid character '}' looking for beginning of value (offset 11)`},
		{"truncated", `{"backends":[`, ErrSyntax, `backends: invalid json: unexpected EOF`},
		{"trailing data", `{} {}`, ErrSyntax, `invalid json: more data after the handler's object`},
		{"not an object", `[1]`, ErrType, `wrong type: want an object, got a list`},
		{"huge number is clipped", `{"cache":{"max_size":` + strings.Repeat("9", 100000) + `}}`, ErrType,
			`cache.max_size: wrong type: ` + strings.Repeat("9", 40) + `...: integer out of range`},
		{"huge string is clipped", `{"backends":[{"url":` + strings.Repeat("1", 100000) + `.5}]}`, ErrType,
			`backends[0].url: wrong type: want a string, got number ` + strings.Repeat("1", 40) + `...`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Section: Section{Timeout: 7}}
			err := DecodeJSON([]byte(tc.in), &c)
			if err == nil {
				t.Fatal("accepted")
			}
			var ce *Error
			if !errors.As(err, &ce) || !errors.Is(err, tc.is) {
				t.Errorf("error %v (%T) is not an *Error wrapping %v", err, err, tc.is)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n %s\nwant it to start with\n %s", err, tc.want)
			}
			if c.Timeout != 7 {
				t.Errorf("a refused config was half-applied: timeout %v", c.Timeout)
			}
		})
	}
}

// FuzzDecodeJSON checks DecodeJSON against encoding/json: what the strict
// decoder accepts, encoding/json accepts and reads the same way, and it
// never panics.
func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"timeout":"30s","backends":[{"url":"http://a","weight":2}],"routes":[{"path":"/v1"}]}`)
	f.Add(`{"health_check":{"headers":{"Host":"x"},"unhealthy_statuses":[500]},"rate_limit":{"requests_per_second":1e2,"burst":10}}`)
	f.Add(`{"cache":null,"timeout":30000000000,"retries":{"count":0,"budget":0.5}}`)
	f.Fuzz(func(t *testing.T, in string) {
		var c Config
		if DecodeJSON([]byte(in), &c) != nil {
			return
		}
		var std Config
		if err := json.Unmarshal([]byte(in), &std); err != nil {
			t.Fatalf("DecodeJSON accepted what encoding/json refuses (%v): %q", err, in)
		}
		if !reflect.DeepEqual(c, std) {
			t.Fatalf("DecodeJSON = %+v, encoding/json = %+v for %q", c, std, in)
		}
	})
}
