package caddymain

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/examples"
)

func TestFront(t *testing.T) {
	none := func(string) bool { return false }
	here := func(name string) bool { return name == DefaultConfig }
	for _, tc := range []struct {
		name    string
		args    []string
		exists  func(string) bool
		want    []string // Caddy's arguments
		builtin bool     // the built-in config is fed on stdin
		err     error
	}{
		{"no arguments, no config.yaml: the built-in seed", nil, none,
			[]string{"run", "--config", "-", "--adapter", "yaml"}, true, nil},
		{"no arguments, config.yaml here", nil, here,
			[]string{"run", "--config", "config.yaml", "--adapter", "yaml"}, false, nil},
		{"-config FILE.yaml", []string{"-config", "config.yaml"}, here,
			[]string{"run", "--config", "config.yaml", "--adapter", "yaml"}, false, nil},
		{"--config FILE.yml", []string{"--config", "conf/a.yml"}, none,
			[]string{"run", "--config", "conf/a.yml", "--adapter", "yaml"}, false, nil},
		{"-config=FILE.json", []string{"-config=caddy.json"}, none,
			[]string{"run", "--config", "caddy.json"}, false, nil},
		{"--config=Caddyfile", []string{"--config=examples/Caddyfile"}, none,
			[]string{"run", "--config", "examples/Caddyfile", "--adapter", "caddyfile"}, false, nil},
		{"Caddyfile.prod", []string{"-config", "Caddyfile.prod"}, none,
			[]string{"run", "--config", "Caddyfile.prod", "--adapter", "caddyfile"}, false, nil},
		{"site.caddyfile, any case", []string{"-config", "/etc/Site.CaddyFile"}, none,
			[]string{"run", "--config", "/etc/Site.CaddyFile", "--adapter", "caddyfile"}, false, nil},
		{"upper-case .YAML", []string{"-config", "A.YAML"}, none,
			[]string{"run", "--config", "A.YAML", "--adapter", "yaml"}, false, nil},
		{"flags after FILE go to caddy run", []string{"-config", "c.yaml", "--watch"}, none,
			[]string{"run", "--config", "c.yaml", "--adapter", "yaml", "--watch"}, false, nil},
		{"Caddy's run", []string{"run", "--config", "x.json"}, here,
			[]string{"run", "--config", "x.json"}, false, nil},
		{"Caddy's adapt", []string{"adapt", "--adapter", "yaml", "--config", "c.yaml"}, here,
			[]string{"adapt", "--adapter", "yaml", "--config", "c.yaml"}, false, nil},
		{"Caddy's list-modules", []string{"list-modules"}, none, []string{"list-modules"}, false, nil},
		{"Caddy's --help", []string{"--help"}, none, []string{"--help"}, false, nil},
		{"a lone -config", []string{"-config"}, here, nil, false, ErrNoConfigFile},
		{"-config followed by a flag", []string{"-config", "--watch"}, here, nil, false, ErrNoConfigFile},
		{"empty -config=", []string{"-config="}, here, nil, false, ErrNoConfigFile},
		{"unknown extension", []string{"-config", "proxy.conf"}, none, nil, false, ErrUnknownFormat},
		{"no extension", []string{"-config", "settings"}, none, nil, false, ErrUnknownFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := front(tc.args, tc.exists)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.args, tc.want) {
				t.Errorf("args = %q, want %q", p.args, tc.want)
			}
			if builtin := p.body != nil; builtin != tc.builtin {
				t.Errorf("built-in config fed: %v, want %v", builtin, tc.builtin)
			}
			if tc.builtin && !bytes.Equal(p.body, examples.ConfigYAML) {
				t.Errorf("fed %q, want examples/config.yaml", p.body)
			}
		})
	}
}

// The error for an unknown format names the file and the way out.
func TestFrontUnknownFormatMessage(t *testing.T) {
	_, err := front([]string{"-config", "proxy.conf"}, nil)
	for _, want := range []string{"proxy.conf", ".yaml", "Caddyfile", "--adapter"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

// FuzzFront: no command line panics; one is either passed to Caddy as it
// is, or becomes `run --config FILE ...` with FILE as given and an adapter
// its name decides.
func FuzzFront(f *testing.F) {
	for _, s := range []string{"", "-config\x00a.yaml", "--config=Caddyfile", "-config\x00x.json\x00--watch",
		"run\x00--config\x00a", "-config=", "-config\x00-", "--config\x00a.conf", "version"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var args []string
		if line != "" {
			args = strings.Split(line, "\x00")
		}
		p, err := front(args, func(string) bool { return false })
		if err != nil {
			if !errors.Is(err, ErrNoConfigFile) && !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("%q: unexpected error %v", args, err)
			}
			return
		}
		if p.file == "" {
			if !slices.Equal(p.args, args) {
				t.Fatalf("%q passed through as %q", args, p.args)
			}
			return
		}
		if len(p.args) < 3 || p.args[0] != "run" || p.args[1] != "--config" || p.args[2] == "" {
			t.Fatalf("%q became %q", args, p.args)
		}
		if len(args) > 0 && p.args[2] != p.file {
			t.Fatalf("%q: runs %q but announces %q", args, p.args[2], p.file)
		}
	})
}
