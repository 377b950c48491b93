package smartproxy

import (
	"strings"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// FuzzDecodeStateRequest: whatever the admin API is sent, decoding never
// panics, accepts only a request with a url, a known state or none, and a
// weight in range, and answers an error no longer than the capped body
// allows.
func FuzzDecodeStateRequest(f *testing.F) {
	for _, s := range []string{
		`{"url": "http://a:1", "state": "drain"}`,
		`{"url": "http://a:1", "route": "sp|*|default", "weight": 3}`,
		`{"url": "http://a:1", "state": "maint", "weight": 0}`,
		`{"url": "", "state": "ready"}`,
		`{"url": "http://a:1", "weight": -1}`,
		`{"url": "http://a:1", "state": "x"}{}`,
		`[1, 2]`, `null`, `"x"`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := decodeStateRequest(strings.NewReader(body))
		if err != nil {
			if len(err.Error()) > maxStateBody+300 {
				t.Fatalf("an error of %d bytes", len(err.Error()))
			}
			return
		}
		if req.URL == "" || (req.State == "" && req.Weight == nil) {
			t.Fatalf("accepted a request with nothing to do: %+v", req)
		}
		if _, ok := parseAdminState(req.State); req.State != "" && !ok {
			t.Fatalf("accepted state %q", req.State)
		}
		if req.Weight != nil && backend.CheckWeight(*req.Weight) != nil {
			t.Fatalf("accepted weight %d", *req.Weight)
		}
	})
}

// FuzzFleetMessage: a message on the shared channel (anyone who can
// publish to the Redis can send one) is either refused or a change with a
// field and, if it has an entry, a known state and weights in range.
func FuzzFleetMessage(f *testing.F) {
	for _, s := range []string{
		`{"from": "ab", "field": "sp|*|default\nhttp://a:1", "entry": {"state": "drain"}}`,
		`{"from": "ab", "field": "f", "entry": {"state": "ready", "weight": 3, "base": 1}}`,
		`{"from": "ab", "field": "f"}`,
		`{"field": "f", "entry": {"state": "explode"}}`,
		`{"field": "f", "entry": {"state": "maint", "weight": -5}}`,
		`{"field": ""}`, `[]`, `{`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		m, ok := parseFleetMessage(payload)
		if !ok {
			return
		}
		if m.Field == "" {
			t.Fatal("accepted a message without a field")
		}
		if e := m.Entry; e != nil {
			if _, known := parseAdminState(e.State); !known {
				t.Fatalf("accepted state %q", e.State)
			}
			if (e.Weight != nil && backend.CheckWeight(*e.Weight) != nil) || backend.CheckWeight(e.Base) != nil {
				t.Fatalf("accepted weights %v / %d", e.Weight, e.Base)
			}
		}
	})
}
