// Package smartproxy is a reverse proxy for Caddy v2: the HTTP handler
// module http.handlers.smartproxy, with its own router (host and longest
// path prefix), pluggable load-balancing strategies, health checks, circuit
// breakers, rate limiting and a response cache.
//
// Importing this package registers the handler, its `smartproxy` Caddyfile
// directive and the `yaml` config adapter.
package smartproxy

import (
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyevents"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/internal/gcfloor"
	"github.com/caddy-smartproxy/smartproxy/internal/handoff"
	"github.com/caddy-smartproxy/smartproxy/router"

	// The yaml config adapter comes with the plugin: one --with brings
	// `caddy run --adapter yaml`.
	_ "github.com/caddy-smartproxy/smartproxy/yamladapter"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults of the handler's settings.
const (
	defaultRetries = 1
)

// Handler is a reverse proxy with its own router and backend pools.
//
// Its JSON keys are those of the seed's YAML file: the top level is the
// default route (`backends`, `load_balancer`, `timeout`, ...), and `routes`
// match on host and path prefix, inheriting each section they leave unset.
// See the config package for every field and its default.
type Handler struct {
	config.Config

	logger     *zap.Logger
	events     *caddyevents.App
	router     *router.Router[*route]
	def        *route // the top-level route; nil when there are no top-level backends
	routes     []*route
	transports transports
	liveKey    string        // this handler's key in liveHandlers
	fleet      *fleetState   // admin_state's shared store (adminfleet.go); nil: none
	scope      scope         // the Caddy server and site this handler sits in
	workers    *handoff.Pool // HTTP/2 and HTTP/3 requests are proxied on these (handoff.go)
	// holds are this config's references to shared state (pools.go),
	// released in Cleanup.
	holds holds
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.smartproxy",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision validates the configuration and builds the router, the pools
// and the transports.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	adminSeen := adminGen.Load() // see the end
	h.transports.ctx = ctx
	if err := h.Validate(); err != nil {
		return err
	}
	// Valid but suspicious settings (the YAML adapter reports them with
	// their line; JSON and Caddyfile users learn of them here).
	for _, w := range h.Config.Warnings() {
		h.logger.Warn("suspicious config", zap.String("key", w.Path), zap.String("warning", w.Message))
	}
	// The GC floor (README, "Garbage collection"), once per process, so
	// that a Caddy built with xcaddy paces its collector as cmd/smartproxy
	// does; GOGC in the environment or set in code keeps its own pacing.
	if _, err := gcfloor.Ensure(os.Getenv); err != nil {
		return fmt.Errorf("starting the GC floor: %v", err)
	}
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %v", err)
	}
	eventsApp, err := ctx.App("events")
	if err != nil {
		return fmt.Errorf("getting events app: %v", err)
	}
	h.events = eventsApp.(*caddyevents.App)
	h.scope = handlerScope(ctx)
	h.workers = handoff.New(0, 0) // starts no goroutine until an HTTP/2 request
	registerSpliceProbe(ctx)
	if h.AdminState != nil {
		if h.fleet, err = acquireFleet(&h.holds, h.AdminState, h.logger); err != nil {
			return err
		}
	}
	if len(h.Backends) > 0 || h.Discovery != nil {
		rt, err := h.buildRoute(ctx, "default", h.Section)
		if err != nil {
			return err
		}
		h.def = rt
	}
	if len(h.Routes) > 0 {
		entries := make([]router.Route[*route], len(h.Routes))
		for i, r := range h.Routes {
			name := r.Host + r.Path
			if r.Host == "" {
				name = "*" + r.Path
			}
			rt, err := h.buildRoute(ctx, name, h.Config.Route(i))
			if err != nil {
				return fmt.Errorf("routes[%d]: %w", i, err)
			}
			entries[i] = router.Route[*route]{Host: r.Host, Path: r.Path, Value: rt}
		}
		rtr, err := router.New(entries)
		if err != nil {
			return fmt.Errorf("building router: %w", err)
		}
		h.router = rtr
	}
	if err := acquireHistory(&h.holds); err != nil { // the status history's sampler (statushistory.go)
		return err
	}
	// Only now, with every route built, may the metrics collector and the
	// admin API read this handler's routes.
	h.liveKey = fmt.Sprintf("handler|%p", h)
	liveHandlers.LoadOrStore(h.liveKey, liveHandler{h: h, gen: handlerGen.Add(1)})
	// An admin state change made while this config was being built may
	// have rebuilt only the live configs' pools: rebuild this one's too.
	if adminGen.Load() != adminSeen {
		for _, rt := range h.routes {
			rt.pool.rebuild()
		}
	}
	return nil
}

// Validate checks the configuration; it never modifies the handler.
func (h *Handler) Validate() error {
	return h.Config.Validate()
}

// ServeHTTP routes the request and proxies it; a request no route matches
// goes to the next handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if err := checkMethod(r.Method); err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	if err := cleanRequestPath(r); err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	rt := h.def
	if h.router != nil {
		if x, ok := h.router.Lookup(r.Host, r.URL.Path); ok {
			rt = x
		}
	}
	if rt == nil {
		return next.ServeHTTP(w, r)
	}
	if r.Method == http.MethodConnect {
		// A CONNECT would go out as "CONNECT / HTTP/1.1": this is a
		// reverse proxy, not a forward one.
		w.Header()["Allow"] = []string{allowedMethods}
		return caddyhttp.Error(http.StatusNotImplemented, errConnect)
	}
	if err := checkDeclaredLength(w, r, rt.bodyTimeout); err != nil {
		if errors.Is(err, errRequestBodyTimeout) {
			return caddyhttp.Error(http.StatusRequestTimeout, err)
		}
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	ri := h.newRequestInfo(r, rt)
	if rt.limiter != nil {
		if err := rt.limiter.allow(w, r); err != nil {
			return err
		}
	}
	if rt.cache != nil {
		return h.serveCached(w, r, rt, ri)
	}
	return h.proxyFor(w, r, rt, ri)
}

// Cleanup stops this config's health checkers and discovery subscriptions,
// closes idle backend connections, and releases its hold on shared state
// (limiters, caches, discovery watchers, tunnels: a backend's upgraded
// connections close when no config holds the backend any more).
func (h *Handler) Cleanup() error {
	if h.liveKey != "" {
		_, _ = liveHandlers.Delete(h.liveKey)
	}
	for _, rt := range h.routes {
		if rt.members != nil {
			rt.members.close() // no more members joining the checker
		}
		rt.faults.stop()
		rt.shaping.mirror.close() // cancels copies under way, waits for them (mirror.go)
		rt.pool.close()
	}
	// After the health checkers stopped: a last-moment transition could
	// otherwise recreate a departed backend's metrics series.
	h.holds.releaseAll()
	h.transports.cleanup()
	if h.workers != nil {
		h.workers.Stop() // idle workers end; busy ones with their request
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
