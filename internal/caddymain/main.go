// Package caddymain is the main of this repository's commands: Caddy's own
// command line with its standard modules and the smartproxy plugin, with
// Go's collector paced for a proxy's heap (internal/gcfloor). cmd/smartproxy
// runs Main, a plain `caddy` with the plugin built in; cmd/proxy runs
// ProxyMain, the same program behind the product description's front door
// (front.go): `proxy` runs the default configuration and `proxy -config
// FILE` runs FILE, while every Caddy subcommand still works.
package caddymain

import (
	"fmt"
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-smartproxy/smartproxy"
	"github.com/caddy-smartproxy/smartproxy/internal/gcfloor"
)

// Main runs Caddy's command line on os.Args after starting the GC floor
// (SMARTPROXY_GC_FLOOR, default 64MiB; GOGC in the environment turns it
// off) before any config loads, as the plugin's Provision would. It does
// not return.
func Main() {
	if _, err := gcfloor.Ensure(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "smartproxy:", err)
		os.Exit(1)
	}
	caddycmd.Main()
}

// ProxyMain is cmd/proxy: it turns the seed's command line into Caddy's
// (see front), says on stderr which file it runs and where to read the
// status, and runs Main. It does not return.
func ProxyMain() {
	p, err := front(os.Args[1:], fileExists)
	if err != nil {
		fmt.Fprintf(os.Stderr, "proxy: %v\n%s", err, usage)
		os.Exit(2)
	}
	if p.body != nil {
		if err := feedStdin(p.body); err != nil {
			fmt.Fprintln(os.Stderr, "proxy: passing the built-in configuration to Caddy:", err)
			os.Exit(1)
		}
	}
	for _, line := range p.announce() {
		fmt.Fprintln(os.Stderr, "proxy:", line)
	}
	os.Args = append([]string{os.Args[0]}, p.args...)
	Main()
}

// usage is printed after a front-door error.
const usage = `usage:
  proxy                  run config.yaml in the working directory, or the built-in default
  proxy -config FILE     run FILE (.yaml/.yml, .json, Caddyfile or .caddyfile)
  proxy COMMAND ...      any Caddy command: run, adapt, validate, list-modules, version, help
`

// feedStdin makes body the process's standard input, for `caddy run
// --config -`. The pipe's write end is closed once body is written, so
// the reader sees it whole and then end of file.
func feedStdin(body []byte) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	go func() {
		_, _ = w.Write(body)
		w.Close()
	}()
	os.Stdin = r
	return nil
}

// fileExists reports whether name may be there: anything but "not found"
// counts, so an unreadable config.yaml gives Caddy's error rather than a
// silent fallback to the built-in one.
func fileExists(name string) bool {
	_, err := os.Stat(name)
	return !os.IsNotExist(err)
}
