package discovery

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config/fielderr"
)

func TestConfigDefaults(t *testing.T) {
	c, err := Config{Name: "api.internal", Resolvers: []string{"10.0.0.2", "[::1]:5353", "127.0.0.1:53"}}.compile()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Name: "api.internal.", Type: "A", Port: 80, Scheme: "http", Refresh: DefaultRefresh,
		Resolvers: []string{"10.0.0.2:53", "[::1]:5353", "127.0.0.1:53"}, Timeout: DefaultTimeout, Weight: 1}
	if c.Name != want.Name || c.Type != want.Type || c.Port != want.Port || c.Scheme != want.Scheme ||
		c.Refresh != want.Refresh || c.Timeout != want.Timeout || c.Weight != want.Weight || !slices.Equal(c.Resolvers, want.Resolvers) {
		t.Fatalf("compiled %+v\nwant %+v", c, want)
	}
	if c, _ := (Config{Name: "a", Scheme: "https"}).compile(); c.Port != 443 {
		t.Fatalf("https default port %d", c.Port)
	}
}

func TestConfigRejects(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string
		value string // in the message
	}{
		{"no name", Config{}, "name", `""`},
		{"bad name", Config{Name: "a b.test"}, "name", `"a b.test"`},
		{"empty label", Config{Name: "a..test"}, "name", `"a..test"`},
		{"long label", Config{Name: strings.Repeat("x", 64) + ".test"}, "name", "xxx"},
		{"bad type", Config{Name: "a", Type: "MX"}, "type", `"MX"`},
		{"port with SRV", Config{Name: "_a._tcp.b", Type: "SRV", Port: 80}, "port", "80"},
		{"weight with SRV", Config{Name: "_a._tcp.b", Type: "srv", Weight: 2}, "weight", "2"},
		{"port range", Config{Name: "a", Port: 70000}, "port", "70000"},
		{"negative port", Config{Name: "a", Port: -1}, "port", "-1"},
		{"negative weight", Config{Name: "a", Weight: -1}, "weight", "-1"},
		{"scheme", Config{Name: "a", Scheme: "ftp"}, "scheme", `"ftp"`},
		{"short refresh", Config{Name: "a", Refresh: 500 * time.Millisecond}, "refresh", "500ms"},
		{"negative timeout", Config{Name: "a", Timeout: -time.Second}, "timeout", "-1s"},
		{"resolver name", Config{Name: "a", Resolvers: []string{"127.0.0.1:53", "dns.google"}}, "resolvers[1]", `"dns.google"`},
		{"resolver port 0", Config{Name: "a", Resolvers: []string{"127.0.0.1:0"}}, "resolvers[0]", `"127.0.0.1:0"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var fe *fielderr.Error
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v: want a field error at %q", err, tc.field)
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.value) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q should wrap ErrInvalidConfig and name %s and %s", err, tc.field, tc.value)
			}
			if _, err := New(tc.cfg); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
}

func TestSystemResolvers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(p, []byte("# comment\nsearch x\nnameserver 10.0.0.53\nnameserver fe80::1%eth0\nnameserver ::1\n"), 0o600)
	if got := systemResolvers(p); !slices.Equal(got, []string{"10.0.0.53", "::1"}) {
		t.Fatalf("resolvers %v (a zoned address is skipped)", got)
	}
	if got := systemResolvers(filepath.Join(t.TempDir(), "none")); !slices.Equal(got, []string{"127.0.0.1:53"}) {
		t.Fatalf("resolvers without a file %v", got)
	}
}
