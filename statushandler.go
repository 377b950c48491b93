package smartproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
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
//
// With controls, the page also has Drain / Maint / Ready buttons and the
// handler takes POST …/backends/state, the admin API's state change
// (adminapi.go), so whoever reaches the site can take backends out of
// rotation: give it the same protection as the admin endpoint (bind it to
// loopback, or put basic_auth in front). A browser page of another site
// cannot use it: a POST must be application/json (which a cross-site page
// can send only after a CORS preflight, which is never granted) and, when
// the browser says where it comes from (Origin, Sec-Fetch-Site), come from
// this same origin.
type StatusHandler struct {
	// Controls serves the buttons and the state API. Default: false.
	Controls bool `json:"controls,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (StatusHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.smartproxy_status",
		New: func() caddy.Module { return new(StatusHandler) },
	}
}

// ServeHTTP serves the page or the status document, and with controls the
// state API.
func (s StatusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if s.Controls && strings.HasSuffix(r.URL.Path, "/backends/state") {
		return serveSiteState(w, r)
	}
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
	page := statusPage
	if s.Controls {
		page = statusPageControls
	}
	_, err := w.Write(page)
	return err
}

// serveSiteState is the state API on a site: POST only, JSON only, and
// from this origin when the browser names one.
func serveSiteState(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return stateAPIError(w, caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)})
	}
	if err := sameOrigin(r); err != nil {
		return stateAPIError(w, caddy.APIError{HTTPStatus: http.StatusForbidden, Err: err})
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return stateAPIError(w, caddy.APIError{HTTPStatus: http.StatusUnsupportedMediaType, Err: errors.New("the body must be application/json")})
	}
	if err := serveBackendState(w, r); err != nil {
		return stateAPIError(w, err)
	}
	return nil
}

// sameOrigin refuses a request a browser made for a page of another
// origin. Clients that are not browsers send neither header.
func sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("cross-site request refused (Sec-Fetch-Site: %.40s)", site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return fmt.Errorf("cross-origin request refused (Origin: %.200s)", o)
		}
	}
	return nil
}

// stateAPIError answers err as the admin API would: JSON {"error": ...}
// with its status.
func stateAPIError(w http.ResponseWriter, err error) error {
	var ae caddy.APIError
	if !errors.As(err, &ae) {
		ae = caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(ae.HTTPStatus)
	return json.NewEncoder(w).Encode(map[string]string{"error": ae.Err.Error()})
}

// statusPageCSP lets the page run only its own inline script and style and
// talk only to its own origin.
const statusPageCSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"

func parseStatusCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(StatusHandler)
	return s, s.UnmarshalCaddyfile(h.Dispenser)
}

// UnmarshalCaddyfile parses `smartproxy_status`, which takes no arguments
// and an optional block with one subdirective:
//
//	smartproxy_status {
//	    controls    # Drain / Maint / Ready buttons and POST …/backends/state
//	}
func (s *StatusHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "controls":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.Controls = true
		default:
			return d.Errf("smartproxy_status: unknown subdirective %q (the only one is controls)", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*StatusHandler)(nil)
	_ caddyfile.Unmarshaler       = (*StatusHandler)(nil)
)
