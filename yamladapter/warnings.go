package yamladapter

import (
	"fmt"
	"net"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// warnings lists what is valid but probably not what the user meant, for
// a file that passed validation, each at the line of its key: every
// warning of config.Warnings (the handler's own, which the handler also
// logs when it provisions), and an admin endpoint on a non-loopback
// address (anyone who reaches it can replace the config).
func (w *walker) warnings(f *proxyFile) []caddyconfig.Warning {
	var out []caddyconfig.Warning
	warn := func(path, msg string) {
		n := w.nodeFor(path)
		out = append(out, caddyconfig.Warning{File: w.file, Line: n.Line, Directive: display(path), Message: msg})
	}
	for _, cw := range f.cfg.Warnings() {
		warn(cw.Path, cw.Message)
	}
	if f.admin != nil && f.admin.Listen != "" && !loopback(f.admin.Listen) {
		warn("admin", fmt.Sprintf("admin endpoint %q is not on a loopback address: anyone who can reach it can replace the config", f.admin.Listen))
	}
	if f.status != "" && !loopback(f.status) {
		warn("status", fmt.Sprintf("status page %q is not on a loopback address: anyone who can reach it sees every route and backend", f.status))
	}
	return out
}

// display spells a handler path the way the YAML file does.
func display(path string) string {
	if path == "timeout" {
		return "server.timeout"
	}
	return path
}

// loopback reports whether an admin listen address stays on this machine:
// a Unix socket, localhost, or a loopback IP.
func loopback(addr string) bool {
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil {
		return false
	}
	if na.IsUnixNetwork() {
		return true
	}
	if na.Host == "localhost" {
		return true
	}
	ip := net.ParseIP(na.Host)
	return ip != nil && ip.IsLoopback()
}
