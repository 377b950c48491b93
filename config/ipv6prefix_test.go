package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidateIPv6Prefix(t *testing.T) {
	cases := []struct{ json, path, text string }{
		{`{"requests_per_second":1,"burst":1}`, "", ""},
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
