package yamladapter

import (
	"errors"
	"net"
	"reflect"
	"strconv"
	"strings"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddyserver/caddy/v2"
	"gopkg.in/yaml.v3"
)

// DefaultPort is where the generated server listens when the file has no
// server.port: the seed's own example port, and unprivileged.
const DefaultPort = 8080

// ServerName is the name of the HTTP server in the generated config, as
// it appears in Caddy's JSON (apps.http.servers.smartproxy), logs and
// metrics.
const ServerName = "smartproxy"

var (
	configFields = config.Fields(reflect.TypeFor[config.Config]())
	serverKeys   = []string{"port", "host", "timeout"}
	logLevels    = []string{"debug", "info", "warn", "error"}
)

// proxyKeys lists the top-level keys of the smartproxy format: the
// handler's (but timeout, which is spelled server.timeout), plus server,
// admin and logging.
var proxyKeys = func() []string {
	out := []string{"server"}
	for _, f := range configFields {
		if f.Name != "timeout" {
			out = append(out, f.Name)
		}
	}
	return append(out, "admin", "logging", "status")
}()

// proxyFile is a decoded smartproxy-format file.
type proxyFile struct {
	cfg     config.Config
	port    int
	host    string
	admin   *adminJSON
	logging *loggingJSON
	// status is the status page's listen address ("": none; status.go).
	status         string
	statusPort     int
	statusControls bool // the page's buttons and state API
}

// The generated Caddy config. Structs (and encoding/json's sorted map
// keys) make the output the same bytes for the same input.
type (
	caddyJSON struct {
		Admin   *adminJSON   `json:"admin,omitempty"`
		Logging *loggingJSON `json:"logging,omitempty"`
		Apps    appsJSON     `json:"apps"`
	}
	adminJSON struct {
		Disabled bool   `json:"disabled,omitempty"`
		Listen   string `json:"listen,omitempty"`
	}
	loggingJSON struct {
		Logs map[string]logJSON `json:"logs"`
	}
	logJSON struct {
		Level string `json:"level"`
	}
	appsJSON struct {
		HTTP httpJSON `json:"http"`
	}
	httpJSON struct {
		Servers map[string]serverJSON `json:"servers"`
	}
	serverJSON struct {
		Listen []string    `json:"listen"`
		Routes []routeJSON `json:"routes"`
		Errors *errorsJSON `json:"errors,omitempty"` // see errorpage.go
	}
	routeJSON struct {
		Handle []handlerJSON `json:"handle"`
	}
	handlerJSON struct {
		Handler string `json:"handler"`
		config.Config
		Controls bool `json:"controls,omitempty"` // smartproxy_status only
	}
)

// proxy decodes the top-level entries of a smartproxy-format file.
func (w *walker) proxy(top []pair) (*proxyFile, error) {
	f := &proxyFile{port: DefaultPort}
	cfg := reflect.ValueOf(&f.cfg).Elem()
	for _, p := range top {
		var err error
		switch k := p.key.Value; k {
		case "server":
			err = w.server(p.value, f)
		case "admin":
			err = w.admin(p.value, f)
		case "logging":
			err = w.logging(p.value, f)
		case "status":
			err = w.status(p.value, f)
		case "timeout":
			err = w.errAt(p.key, "", errf(ErrUnknownKey, "%q in the top level (did you mean \"server.timeout\"?)", k))
		default:
			fd, ok := config.LookupField(configFields, k)
			if !ok {
				return nil, w.errAt(p.key, "", unknownKey(k, where(""), proxyKeys))
			}
			err = w.decode(p.value, cfg.FieldByIndex(fd.Index), fd.Name)
		}
		if err != nil {
			return nil, err
		}
	}
	return f, w.checkStatusPort(f)
}

// server decodes the server section: port, host (the bind address) and
// timeout (the handler's).
func (w *walker) server(n *yaml.Node, f *proxyFile) error {
	n, err := w.enter(n, "server")
	if err != nil {
		return err
	}
	defer w.leave(n)
	w.nodes["server"] = n
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return w.errAt(n, "server", errf(ErrType, ": want a mapping, got %s", describe(n)))
	}
	ps, err := w.pairs(n, "server")
	if err != nil {
		return err
	}
	for _, p := range ps {
		switch p.key.Value {
		case "port":
			if err := w.decode(p.value, reflect.ValueOf(&f.port).Elem(), "server.port"); err != nil {
				return err
			}
			if f.port < 1 || f.port > 65535 {
				return w.errAt(w.nodes["server.port"], "server.port", errf(ErrValue, "%d: want 1 to 65535", f.port))
			}
		case "host":
			if err := w.decode(p.value, reflect.ValueOf(&f.host).Elem(), "server.host"); err != nil {
				return err
			}
			h, err := bindHost(f.host)
			if err != nil {
				return w.errAt(w.nodes["server.host"], "server.host", err)
			}
			f.host = h
		case "timeout":
			if err := w.decode(p.value, reflect.ValueOf(&f.cfg.Timeout).Elem(), "server.timeout"); err != nil {
				return err
			}
			// config.Validate names it `timeout`: the handler's key.
			w.nodes["timeout"] = w.nodes["server.timeout"]
		default:
			return w.errAt(p.key, "", unknownKey(p.key.Value, "server", serverKeys))
		}
	}
	return nil
}

// bindHost checks a listen host: a name, an IPv4 address or an IPv6
// address (brackets optional). Empty means every interface.
func bindHost(h string) (string, error) {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.Contains(h, ":") {
		if net.ParseIP(h) == nil {
			return "", errf(ErrValue, "%q: want a host name or an IP address, without a port (use server.port)", h)
		}
		return h, nil
	}
	if strings.ContainsAny(h, "/ \t\r\n[]@?#%") {
		return "", errf(ErrValue, "%q: want a host name or an IP address", h)
	}
	return h, nil
}

// admin decodes `admin`: a listen address, or off (also false).
func (w *walker) admin(n *yaml.Node, f *proxyFile) error {
	n, err := w.enter(n, "admin")
	if err != nil {
		return err
	}
	defer w.leave(n)
	w.nodes["admin"] = n
	if n.Kind == yaml.ScalarNode {
		switch tag := n.ShortTag(); {
		case tag == "!!bool" && strings.EqualFold(n.Value, "false"),
			tag == "!!str" && strings.EqualFold(n.Value, "off"):
			f.admin = &adminJSON{Disabled: true}
			return nil
		case tag == "!!str" && n.Value != "":
			if na, err := caddy.ParseNetworkAddress(n.Value); err != nil ||
				(!na.IsUnixNetwork() && (na.StartPort == 0 || na.PortRangeSize() != 1)) {
				return w.errAt(n, "admin", errf(ErrValue, "%q: want a listen address such as localhost:2019, or off", n.Value))
			}
			f.admin = &adminJSON{Listen: n.Value}
			return nil
		}
	}
	return w.errAt(n, "admin", errf(ErrType, ": want a listen address such as localhost:2019, or off; got %s", describe(n)))
}

// logging decodes `logging`: the level of Caddy's default log.
func (w *walker) logging(n *yaml.Node, f *proxyFile) error {
	var level string
	if err := w.decode(n, reflect.ValueOf(&level).Elem(), "logging"); err != nil {
		return err
	}
	l := strings.ToLower(level)
	for _, known := range logLevels {
		if l == known {
			f.logging = &loggingJSON{Logs: map[string]logJSON{"default": {Level: strings.ToUpper(l)}}}
			return nil
		}
	}
	msg := errf(ErrValue, "%q: want one of %s", level, strings.Join(logLevels, ", "))
	if s := nearest(l, logLevels); s != "" {
		msg = errf(ErrValue, "%q: want one of %s (did you mean %q?)", level, strings.Join(logLevels, ", "), s)
	}
	return w.errAt(w.nodes["logging"], "logging", msg)
}

// validate runs the config package's rules and locates their error.
func (w *walker) validate(cfg *config.Config) error {
	err := cfg.Validate()
	if err == nil {
		return nil
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		return &Error{File: w.file, Line: 1, Err: err}
	}
	path := ce.Path
	if path == "timeout" {
		path = "server.timeout"
	}
	return w.errAt(w.nodeFor(ce.Path), path, invalid{ce})
}

// nodeFor returns the node recorded for path or, when the key was not
// written (a missing required key), for its nearest written ancestor.
func (w *walker) nodeFor(path string) *yaml.Node {
	for {
		if n, ok := w.nodes[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return w.nodes[""]
		}
		path = path[:i]
	}
}

// caddyConfig builds the whole Caddy config for a decoded file.
func (f *proxyFile) caddyConfig() caddyJSON {
	servers := map[string]serverJSON{
		ServerName: {
			Listen: []string{net.JoinHostPort(f.host, strconv.Itoa(f.port))},
			Routes: []routeJSON{{Handle: []handlerJSON{{Handler: "smartproxy", Config: f.cfg}}}},
			Errors: errorRoutes(&f.cfg),
		},
	}
	f.statusServer(servers)
	return caddyJSON{
		Admin:   f.admin,
		Logging: f.logging,
		Apps:    appsJSON{HTTP: httpJSON{Servers: servers}},
	}
}
