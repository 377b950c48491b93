package config

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func TestEffectiveTimeouts(t *testing.T) {
	s := func(d time.Duration) caddy.Duration { return caddy.Duration(d) }
	cases := []struct {
		name string
		sec  Section
		want Timeouts
	}{
		{"defaults", Section{}, Timeouts{Dial: s(3 * time.Second), ResponseHeader: s(30 * time.Second), IdleConnection: s(90 * time.Second)}},
		{"seed timeout is response_header, dial follows a short one", Section{Timeout: s(time.Second)},
			Timeouts{Dial: s(time.Second), ResponseHeader: s(time.Second), IdleConnection: s(90 * time.Second)}},
		{"every key", Section{Timeouts: &Timeouts{Dial: s(time.Second), ResponseHeader: s(5 * time.Second), Read: s(time.Minute),
			Write: s(time.Minute), IdleConnection: s(time.Second), RequestBody: s(2 * time.Second)}},
			Timeouts{Dial: s(time.Second), ResponseHeader: s(5 * time.Second), Read: s(time.Minute),
				Write: s(time.Minute), IdleConnection: s(time.Second), RequestBody: s(2 * time.Second)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sec.EffectiveTimeouts(); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRouteTimeoutInheritance(t *testing.T) {
	c := Config{
		Section: Section{Timeouts: &Timeouts{ResponseHeader: caddy.Duration(10 * time.Second), Dial: caddy.Duration(time.Second)}},
		Routes: []Route{
			{Path: "/a"},
			{Path: "/b", Section: Section{Timeout: caddy.Duration(2 * time.Second)}},
		},
	}
	if got := c.Route(0).EffectiveTimeouts(); got.ResponseHeader != caddy.Duration(10*time.Second) || got.Dial != caddy.Duration(time.Second) {
		t.Errorf("route without timeouts: %+v, want the top level's", got)
	}
	if got := c.Route(1).EffectiveTimeouts(); got.ResponseHeader != caddy.Duration(2*time.Second) || got.Dial != caddy.Duration(time.Second) {
		t.Errorf("route with its own timeout: %+v, want response_header 2s and the top level's dial", got)
	}
}

func TestTimeoutValidation(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"a number counts nanoseconds", `{"backends":[{"url":"http://a:1"}],"timeouts":{"read":30}}`,
			`timeouts.read: 30ns: less than 1ms; a JSON number counts nanoseconds, so write a string such as "30s"`},
		{"negative", `{"backends":[{"url":"http://a:1"}],"routes":[{"path":"/x","timeouts":{"dial":-1000000000}}]}`,
			"routes[0].timeouts.dial: -1s: must not be negative"},
		{"both spellings", `{"backends":[{"url":"http://a:1"}],"timeout":"5s","timeouts":{"response_header":"6s"}}`,
			"timeouts.response_header: 6s: the section's timeout (5s) is the same setting"},
		{"retry on 200", `{"backends":[{"url":"http://a:1"}],"retries":{"on_status":[200]}}`,
			"retries.on_status[0]: 200: only 429 and 500-599"},
		{"retry CONNECT", `{"backends":[{"url":"http://a:1"}],"retries":{"methods":["CONNECT"]}}`,
			`retries.methods[0]: "CONNECT": CONNECT is never proxied`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			if err := DecodeJSON([]byte(tc.json), &c); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	var ok Config
	if err := DecodeJSON([]byte(`{"backends":[{"url":"http://a:1"}],"timeout":"5s","timeouts":{"response_header":"5s","read":"1m"},
		"retries":{"on_status":[429,500],"methods":["GET","POST"]}}`), &ok); err != nil {
		t.Fatal(err)
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}
