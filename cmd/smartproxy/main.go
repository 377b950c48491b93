// Command smartproxy is Caddy with its standard modules and the smartproxy
// plugin: `smartproxy run --config examples/Caddyfile` behaves like
// `caddy run`, with http.handlers.smartproxy and the yaml adapter built in.
// It also paces Go's garbage collector for a proxy's heap (see gcfloor.go;
// SMARTPROXY_GC_FLOOR, or GOGC to choose the pacing yourself).
package main

import (
	"fmt"
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-smartproxy/smartproxy"
)

func main() {
	floor, err := gcFloorFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "smartproxy:", err)
		os.Exit(1)
	}
	if floor > 0 {
		startGCFloor(floor)
	}
	caddycmd.Main()
}
