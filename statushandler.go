package smartproxy

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(StatusHandler{})
	httpcaddyfile.RegisterHandlerDirective("smartproxy_status", parseStatusCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("smartproxy_status", httpcaddyfile.Before, "reverse_proxy")
}

// StatusHandler (http.handlers.smartproxy_status) serves the live status
// page and the status document on a site of your choice, for browsers.
// Caddy's admin endpoint also serves both (admin.api.smartproxy), but it
// refuses top-level browser navigations (they carry Sec-Fetch-Mode and no
// Origin), so to look at the page put this handler on an internal site:
//
//	:2020 {
//	    bind 127.0.0.1
//	    smartproxy_status
//	}
//
// A request whose path ends in /status gets the JSON document; any other
// GET gets the page. It is a terminal handler. It shows every route of the
// running configs, so keep it off public sites.
type StatusHandler struct{}

// CaddyModule returns the Caddy module information.
func (StatusHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.smartproxy_status",
		New: func() caddy.Module { return new(StatusHandler) },
	}
}

// ServeHTTP serves the page or the status document.
func (StatusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, nil)
	}
	w.Header().Set("Cache-Control", "no-store")
	if strings.HasSuffix(r.URL.Path, "/status") {
		w.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(w).Encode(status(time.Now()))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", statusPageCSP)
	_, err := w.Write(statusPage)
	return err
}

// statusPageCSP lets the page run only its own inline script and style and
// talk only to its own origin.
const statusPageCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"

func parseStatusCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(StatusHandler)
	return s, s.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile parses `smartproxy_status`, which takes no arguments.
func (s *StatusHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Errf("smartproxy_status takes no block, got %q", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*StatusHandler)(nil)
	_ caddyfile.Unmarshaler       = (*StatusHandler)(nil)
)
