package smartproxy

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(Admin{})
}

//go:embed statuspage.html
var statusPage []byte

// statusPageControls is the page with its Drain / Maint / Ready buttons,
// for where the state API is served beside it: the admin endpoint, and a
// status handler configured with controls.
var statusPageControls = bytes.Replace(statusPage, []byte(`data-controls="off"`), []byte(`data-controls="on"`), 1)

// Admin is the admin API module admin.api.smartproxy. It reads the running
// configs' routes (never a handler instance of its own) and serves:
//
//	GET  /smartproxy/status       the status document (JSON, see StatusDoc)
//	GET  /smartproxy/             a self-contained page showing it live
//	POST /smartproxy/cache/purge  purge cached responses:
//	                              {"key": "GET http://example.com/a?b"},
//	                              {"prefix": "GET http://example.com/static/"}
//	                              {"tags": ["a", "b"]} (issue 18: responses
//	                              tagged by Surrogate-Key / Cache-Tag)
//	                              or {"all": true}, optionally with
//	                              "route": "<route name>"; answers {"purged": n}
//	POST /smartproxy/backends/state  drain, maintain or re-admit a backend, or
//	                              change its weight, live: {"url": ...,
//	                              "state": "drain", "weight": 2} (adminapi.go)
type Admin struct{}

// CaddyModule returns the Caddy module information.
func (Admin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.smartproxy",
		New: func() caddy.Module { return new(Admin) },
	}
}

// Routes returns the admin routes.
func (a *Admin) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/smartproxy/status", Handler: caddy.AdminHandlerFunc(a.handleStatus)},
		{Pattern: "/smartproxy/cache/purge", Handler: caddy.AdminHandlerFunc(a.handlePurge)},
		{Pattern: "/smartproxy/backends/state", Handler: caddy.AdminHandlerFunc(a.handleBackendState)},
		{Pattern: "/smartproxy/", Handler: caddy.AdminHandlerFunc(a.handlePage)},
	}
}

func (a *Admin) handleStatus(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(status(time.Now()))
}

func (a *Admin) handlePage(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	if r.URL.Path != "/smartproxy/" {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no such page: %s", r.URL.Path)}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", statusPageCSP)
	_, err := w.Write(statusPageControls)
	return err
}

// purgeRequest is the body of POST /smartproxy/cache/purge.
type purgeRequest struct {
	Route  string   `json:"route,omitempty"`
	Key    string   `json:"key,omitempty"`
	Prefix string   `json:"prefix,omitempty"`
	All    bool     `json:"all,omitempty"`
	Tags   []string `json:"tags,omitempty"` // issue 18: tag purge
}

func (a *Admin) handlePurge(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	var req purgeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("decoding purge request: %v", err)}
	}
	n := 0
	if req.Key != "" {
		n++
	}
	if req.Prefix != "" {
		n++
	}
	if req.All {
		n++
	}
	if len(req.Tags) > 0 { // issue 18
		n++
	}
	if n != 1 {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New(`give exactly one of "key", "prefix", "tags" or "all": true`)}
	}
	purged, found := 0, false
	for _, rt := range liveRoutes() {
		if rt.cache == nil || (req.Route != "" && rt.name != req.Route && rt.short != req.Route) {
			continue
		}
		found = true
		switch {
		case req.All:
			purged += rt.cache.PurgeAll()
		case req.Key != "":
			purged += rt.cache.Purge(req.Key)
		case len(req.Tags) > 0: // issue 18
			purged += rt.cache.PurgeTags(req.Tags...)
		default:
			purged += rt.cache.PurgePrefix(req.Prefix)
		}
	}
	if !found && req.Route != "" {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no cached route %q", req.Route)}
	}
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]int{"purged": purged})
}

// Interface guards
var _ caddy.AdminRouter = (*Admin)(nil)
