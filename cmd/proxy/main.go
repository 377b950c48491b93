// Command proxy is the product description's front door to smartproxy:
//
//	go build -o proxy cmd/proxy/main.go
//	./proxy                       # default configuration
//	./proxy -config config.yaml   # custom configuration
//
// With no arguments it runs config.yaml from the working directory, or,
// when there is none, the seed's examples/config.yaml compiled in (port
// 8080, backends on localhost:3001 and :3002). `-config FILE` (also
// --config FILE, -config=FILE) runs FILE with the adapter its name says:
// .yaml/.yml, .json, Caddyfile/.caddyfile. Anything else is Caddy's own
// command line (`proxy run ...`, `proxy adapt ...`, `proxy list-modules`,
// `proxy version`): the binary is the same Caddy as cmd/smartproxy, with
// the standard modules, this plugin and its GC floor.
package main

import "github.com/caddy-smartproxy/smartproxy/internal/caddymain"

func main() { caddymain.ProxyMain() }
