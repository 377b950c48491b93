package caddymain

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestAnnounce(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	defaultStatus := "status: " + urlOf(caddy.DefaultAdminListen) + "smartproxy/status (JSON; see README, \"Status page\", for the live page in a browser)"
	builtin, err := front(nil, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    plan
		want []string
	}{
		{"the built-in seed", builtin, []string{
			"running examples/config.yaml (the default configuration, built in: no config.yaml in the working directory)",
			"serving http://localhost:8080/",
			defaultStatus,
		}},
		{"a Caddyfile with a status site and the admin endpoint off", plan{
			file:    write("Caddyfile", "{\n\tadmin off\n}\n:9081 {\n\trespond ok\n}\n:9082 {\n\tbind 127.0.0.1\n\tsmartproxy_status\n}\n"),
			adapter: "caddyfile", why: "given with -config",
		}, []string{
			"running " + filepath.Join(dir, "Caddyfile") + " (given with -config)",
			"serving http://127.0.0.1:9082/, http://localhost:9081/", // in server-name order
			"status page: http://127.0.0.1:9082/",
			"status: none (the admin endpoint is off)",
		}},
		{"JSON with an IPv6 listener and an admin address", plan{
			file: write("c.json", `{"admin": {"listen": "127.0.0.1:2999"}, "apps": {"http": {"servers": {"a": {"listen": ["[::1]:9083"]}}}}}`),
			why:  "given with -config",
		}, []string{
			"running " + filepath.Join(dir, "c.json") + " (given with -config)",
			"serving http://[::1]:9083/",
			"status: http://127.0.0.1:2999/smartproxy/status (JSON; see README, \"Status page\", for the live page in a browser)",
		}},
		{"a file that does not adapt: Caddy says why", plan{
			file: write("bad.yaml", "server: {port: eighty}\n"), adapter: "yaml", why: "given with -config",
		}, []string{"running " + filepath.Join(dir, "bad.yaml") + " (given with -config)"}},
		{"a missing file", plan{
			file: filepath.Join(dir, "none.yaml"), adapter: "yaml", why: "given with -config",
		}, []string{"running " + filepath.Join(dir, "none.yaml") + " (given with -config)"}},
		{"Caddy's own command line: nothing to say", plan{args: []string{"version"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.announce(); !slices.Equal(got, tc.want) {
				t.Errorf("announce() =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestURLOf(t *testing.T) {
	for _, tc := range []struct{ listen, want string }{
		{":8080", "http://localhost:8080/"},
		{"0.0.0.0:80", "http://localhost:80/"},
		{"localhost:2019", "http://localhost:2019/"},
		{"tcp/127.0.0.1:9080", "http://127.0.0.1:9080/"},
		{"[::1]:9083", "http://[::1]:9083/"},
		{"unix//run/caddy.sock", "unix//run/caddy.sock"},
		{":8000-8010", ":8000-8010"},
	} {
		if got := urlOf(tc.listen); got != tc.want {
			t.Errorf("urlOf(%q) = %q, want %q", tc.listen, got, tc.want)
		}
	}
}
