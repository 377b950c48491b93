// Command smartproxy is Caddy with its standard modules and the smartproxy
// plugin: `smartproxy run --config examples/Caddyfile` behaves like
// `caddy run`, with http.handlers.smartproxy and the yaml adapter built in.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-smartproxy/smartproxy"
)

func main() {
	caddycmd.Main()
}
