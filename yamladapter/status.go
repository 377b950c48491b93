package yamladapter

import (
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"gopkg.in/yaml.v3"
)

// StatusServerName is the HTTP server that serves the status page when
// the file has `status: ADDRESS`.
const StatusServerName = "smartproxy_status"

// status decodes `status`: the listen address (host:port) of the live
// status page and its JSON document, or off (also false), or a mapping
// {listen: ADDRESS, controls: true} that also serves the page's Drain /
// Maint / Ready buttons and the state API (the smartproxy_status
// handler's controls). Off is the default. The page gets an HTTP server of
// its own (StatusServerName) whose one handler is smartproxy_status; it
// shows every route, so keep it on a loopback or internal address (a
// warning says so otherwise).
func (w *walker) status(n *yaml.Node, f *proxyFile) error {
	n, err := w.enter(n, "status")
	if err != nil {
		return err
	}
	defer w.leave(n)
	w.nodes["status"] = n
	if n.Kind != yaml.MappingNode {
		return w.statusAddress(n, "status", f)
	}
	ps, err := w.pairs(n, "status")
	if err != nil {
		return err
	}
	var listen *yaml.Node
	for _, p := range ps {
		switch p.key.Value {
		case "listen":
			listen = p.value
		case "controls":
			v := p.value
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
				return w.errAt(v, "status.controls", errf(ErrType, ": want true or false; got %s", describe(v)))
			}
			f.statusControls = strings.EqualFold(v.Value, "true")
		default:
			return w.errAt(p.key, "", unknownKey(p.key.Value, where("status"), []string{"listen", "controls"}))
		}
	}
	if listen == nil {
		return w.errAt(n, "status.listen", errf(ErrValue, ": required: the listen address, such as 127.0.0.1:2020"))
	}
	w.nodes["status"] = listen
	return w.statusAddress(listen, "status.listen", f)
}

// statusAddress decodes the status page's listen address at path.
func (w *walker) statusAddress(n *yaml.Node, path string, f *proxyFile) error {
	const want = "want a listen address such as 127.0.0.1:2020, or off"
	if n.Kind == yaml.ScalarNode {
		switch tag := n.ShortTag(); {
		case tag == "!!bool" && strings.EqualFold(n.Value, "false"),
			tag == "!!str" && strings.EqualFold(n.Value, "off"):
			f.status = ""
			return nil
		case tag == "!!str" && n.Value != "":
			na, err := caddy.ParseNetworkAddress(n.Value)
			if err != nil || na.IsUnixNetwork() || na.StartPort == 0 || na.PortRangeSize() != 1 || !strings.Contains(n.Value, ":") {
				return w.errAt(n, path, errf(ErrValue, "%q: %s", n.Value, want))
			}
			f.status, f.statusPort = n.Value, int(na.StartPort)
			return nil
		}
	}
	return w.errAt(n, path, errf(ErrType, ": %s; got %s", want, describe(n)))
}

// checkStatusPort refuses a status address on the proxy's own port: the
// two servers would fight over one listener.
func (w *walker) checkStatusPort(f *proxyFile) error {
	if f.status != "" && f.statusPort == f.port {
		return w.errAt(w.nodes["status"], "status", errf(ErrValue, "%q: port %s is server.port's; the status page needs a port of its own", f.status, strconv.Itoa(f.port)))
	}
	return nil
}

// statusServer is the status page's server, or nothing.
func (f *proxyFile) statusServer(servers map[string]serverJSON) {
	if f.status == "" {
		return
	}
	servers[StatusServerName] = serverJSON{
		Listen: []string{f.status},
		Routes: []routeJSON{{Handle: []handlerJSON{{Handler: "smartproxy_status", Controls: f.statusControls}}}},
	}
}
