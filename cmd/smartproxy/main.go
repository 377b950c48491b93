// Command smartproxy is Caddy with its standard modules and the smartproxy
// plugin: `smartproxy run --config examples/Caddyfile` behaves like
// `caddy run`, with http.handlers.smartproxy and the yaml adapter built in.
// It also paces Go's garbage collector for a proxy's heap (see
// internal/gcfloor; SMARTPROXY_GC_FLOOR, or GOGC to choose
// the pacing yourself). cmd/proxy is the same program behind the product
// description's front door (`proxy -config config.yaml`).
package main

import "github.com/caddy-smartproxy/smartproxy/internal/caddymain"

func main() { caddymain.Main() }
