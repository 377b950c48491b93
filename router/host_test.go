package router

import (
	"strings"
	"testing"
)

func TestCanonicalRequestHost(t *testing.T) {
	long := strings.Repeat("a", maxHostLen)
	tests := []struct {
		in        string
		want      string
		ipv6      bool
		matchable bool
	}{
		{"example.com", "example.com", false, true},
		{"Example.COM", "example.com", false, true},
		{"example.com:8080", "example.com", false, true},
		{"example.com.", "example.com", false, true},
		{"example.com.:80", "example.com", false, true},
		{"example.com..", "example.com.", false, true},
		{"10.0.0.1:80", "10.0.0.1", false, true},
		{"[1.2.3.4]:80", "1.2.3.4", false, true},
		{"[::1]:8080", "::1", true, true},
		{"[::1]", "::1", true, true},
		{"::1", "::1", true, true},
		{"[2001:DB8:0:0::1]:443", "2001:db8::1", true, true},
		{"[::ffff:1.2.3.4]", "::ffff:1.2.3.4", true, true},
		{"[::1%eth0]:80", "", false, false},
		{"[::1", "", false, false},
		{"[nothost]:80", "nothost", false, true},
		{"a:b:c", "", false, false},
		{"", "", false, true},
		{":80", "", false, true},
		{long, long, false, true},
		{long + ".", long, false, true},
		{long + "a", "", false, false},
		{"ÄB.com", "Äb.com", false, true}, // ASCII-only folding
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var buf [hostBufLen]byte
			h, ipv6, ok := canonicalRequestHost(tc.in, &buf)
			if string(h) != tc.want || ipv6 != tc.ipv6 || ok != tc.matchable {
				t.Errorf("canonicalRequestHost(%q) = %q, %v, %v; want %q, %v, %v",
					tc.in, h, ipv6, ok, tc.want, tc.ipv6, tc.matchable)
			}
		})
	}
}

func TestCanonicalRouteHost(t *testing.T) {
	tests := []struct {
		in   string
		key  string
		kind hostKind
	}{
		{"", "", anyHost},
		{"Example.COM", "example.com", exactHost},
		{"example.com.", "example.com", exactHost},
		{"*.Example.com", "example.com", wildcardHost},
		{"*.com", "com", wildcardHost},
		{"localhost", "localhost", exactHost},
		{"[::1]", "::1", exactHost},
		{"0:0::1", "::1", exactHost},
		{"[2001:DB8::1]", "2001:db8::1", exactHost},
		{"192.168.0.1", "192.168.0.1", exactHost},
		{"under_score.example", "under_score.example", exactHost},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			key, kind, err := canonicalRouteHost(tc.in)
			if err != nil || key != tc.key || kind != tc.kind {
				t.Errorf("canonicalRouteHost(%q) = %q, %v, %v; want %q, %v", tc.in, key, kind, err, tc.key, tc.kind)
			}
		})
	}
}
