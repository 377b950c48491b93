package smartproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// POST /smartproxy/backends/state: the admin API's runtime backend state
// (adminstate.go). The body is one JSON object:
//
//	{"url": "http://10.0.0.5:8080", "route": "srv0|*|default",
//	 "state": "ready" | "drain" | "maint", "weight": 3}
//
// url is required; route (a route id or a route's own name, as the status
// document gives them) defaults to every route that has the backend; state
// and weight are each optional, but one must be given. The answer is
// {"changed": [{"route": ..., "backend": <its status object>}]}, one entry
// per route. Errors are Caddy's JSON errors: 404 for an unknown backend or
// route, 400 for a body that is not one such object (an unknown key, a
// wrong type, an unknown state, a weight CheckWeight refuses, more than
// maxStateBody bytes), 405 for a method other than POST.

// maxStateBody caps the request body: a real one is under 300 bytes.
const maxStateBody = 4 << 10

// Errors of a state change, wrapped with the value at fault.
var (
	errStateBody    = errors.New("bad backend state request")
	errStateUnknown = errors.New("no such backend")
)

// stateRequest is the body of POST /smartproxy/backends/state.
type stateRequest struct {
	URL    string `json:"url"`
	Route  string `json:"route,omitempty"`
	State  string `json:"state,omitempty"`
	Weight *int   `json:"weight,omitempty"`
}

// StateChange is one route's backend after a state change.
type StateChange struct {
	Route   string        `json:"route"`
	Backend BackendStatus `json:"backend"`
}

// stateChanges is the answer of a state change.
type stateChanges struct {
	Changed []StateChange `json:"changed"`
	// Fleet says, when admin_state shares the state, whether the change
	// reached Redis ("published") or this instance only.
	Fleet string `json:"fleet,omitempty"`
}

func (a *Admin) handleBackendState(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	return serveBackendState(w, r)
}

// serveBackendState decodes, applies and answers one state change (the
// admin API's and, when it allows it, the status page handler's).
func serveBackendState(w http.ResponseWriter, r *http.Request) error {
	req, err := decodeStateRequest(http.MaxBytesReader(w, r.Body, maxStateBody))
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
	}
	out, err := applyBackendState(req, time.Now())
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, errStateUnknown) {
			code = http.StatusNotFound
		}
		return caddy.APIError{HTTPStatus: code, Err: err}
	}
	for _, c := range out.Changed {
		caddy.Log().Named("admin.smartproxy").Info("backend state changed",
			zap.String("route", c.Route), zap.String("backend", c.Backend.URL),
			zap.String("state", c.Backend.AdminState), zap.Int("weight", c.Backend.Weight),
			zap.String("remote_addr", r.RemoteAddr))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(out)
}

// decodeStateRequest reads exactly one JSON object with known keys.
func decodeStateRequest(body io.Reader) (stateRequest, error) {
	var req stateRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return req, fmt.Errorf("%w: body larger than %d bytes", errStateBody, maxStateBody)
		}
		return req, fmt.Errorf("%w: %v", errStateBody, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, fmt.Errorf("%w: one JSON object, and nothing after it", errStateBody)
	}
	if req.URL == "" {
		return req, fmt.Errorf(`%w: "url" is required`, errStateBody)
	}
	if req.State == "" && req.Weight == nil {
		return req, fmt.Errorf(`%w: give "state" ("ready", "drain" or "maint"), "weight", or both`, errStateBody)
	}
	if req.State != "" {
		if _, ok := parseAdminState(req.State); !ok {
			return req, fmt.Errorf(`%w: state %.64q: must be "ready", "drain" or "maint"`, errStateBody, req.State)
		}
	}
	if req.Weight != nil {
		if err := backend.CheckWeight(*req.Weight); err != nil {
			return req, fmt.Errorf("%w: weight %d: %v", errStateBody, *req.Weight, err)
		}
	}
	return req, nil
}

// applyBackendState applies req to every live route it names and returns
// the backends' new status.
func applyBackendState(req stateRequest, now time.Time) (stateChanges, error) {
	u, err := backend.Parse(req.URL)
	if err != nil {
		return stateChanges{}, fmt.Errorf("%w: url: %v", errStateBody, err)
	}
	name := u.String()
	out := stateChanges{Changed: []StateChange{}}
	routeFound, shared := false, false
	var fleetErrs []error
	for _, rt := range liveRoutes() {
		if req.Route != "" && rt.name != req.Route && rt.short != req.Route {
			continue
		}
		routeFound = true
		m := rt.pool.memberNamed(name)
		if m == nil || m.admin == nil {
			continue
		}
		s := m.admin.load()
		if req.State != "" {
			s, _ = parseAdminState(req.State)
		}
		m.admin.set(s, req.Weight, m.configWeight)
		rebuildAdmin(rt.name)
		if f := m.admin.fleet.Load(); f != nil {
			shared = true
			if err := f.publish(m.admin); err != nil {
				fleetErrs = append(fleetErrs, err)
			}
		}
		out.Changed = append(out.Changed, StateChange{Route: rt.name, Backend: backendStatus(rt, m, now)})
	}
	switch {
	case req.Route != "" && !routeFound:
		return out, fmt.Errorf("%w: no route %.200q", errStateUnknown, req.Route)
	case len(out.Changed) == 0 && req.Route != "":
		return out, fmt.Errorf("%w: route %.200q has no backend %.200q", errStateUnknown, req.Route, name)
	case len(out.Changed) == 0:
		return out, fmt.Errorf("%w: no route has backend %.200q", errStateUnknown, name)
	}
	if shared {
		out.Fleet = fleetNote(fleetErrs)
	}
	return out, nil
}

// memberNamed returns the member of the current snapshot whose backend is
// called name, or nil.
func (p *pool) memberNamed(name string) *member {
	for _, m := range p.snap.Load().members {
		if m.b.Name == name {
			return m
		}
	}
	return nil
}
