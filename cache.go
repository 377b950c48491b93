package smartproxy

import (
	"context"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-smartproxy/smartproxy/cache"
	"github.com/caddy-smartproxy/smartproxy/cache/redistier"
	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/forward"
)

// caches keeps response caches across config reloads: a route whose cache
// settings are unchanged keeps what it stored. (The admin API reaches the
// live caches through the live routes, not this pool.)
var caches = newShared("cache", closeCacheTier)

// cacheSettings are what a route's cache is kept by across reloads.
type cacheSettings struct {
	Cache *config.Cache
	// NoTags and NoTargets tell a list set empty (the feature off) from
	// one left out (the default), which omitempty marshals alike.
	NoTags    bool `json:",omitempty"`
	NoTargets bool `json:",omitempty"`
}

// newRouteCache gets the route's cache from the shared pool (or makes
// it), held by hs; with cache.shared, on its shared tier (cachetier.go).
func newRouteCache(hs *holds, routeName string, cc *config.Cache, logger *zap.Logger) (*cache.Cache, error) {
	k := stateKey{route: routeName, settings: cacheSettings{
		Cache:     cc,
		NoTags:    cc.TagHeaders != nil && len(cc.TagHeaders) == 0,
		NoTargets: cc.Targets != nil && len(cc.Targets) == 0,
	}}
	var client *redistier.Client
	if cc.Shared != nil {
		var err error
		if client, err = newCacheClient(hs, cc.Shared, logger); err != nil {
			return nil, err
		}
	}
	c, err := caches.acquire(hs, k, func() (*cache.Cache, error) {
		s := cc.Settings()
		s.ImplicitLength = true // Caddy's writers are net/http's (serveCached)
		if client != nil {
			s.Tier = client.Tier(routeName)
		}
		return cache.New(s)
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return c, nil
}

// serveCached answers r through the route's cache; misses go to the
// backends through ri, background revalidations through the route's own
// fetch function, built once at Provision. Protocol upgrades are never
// cached.
func (h *Handler) serveCached(w http.ResponseWriter, r *http.Request, rt *route, ri *requestInfo) error {
	if forward.UpgradeType(r.Header) != "" {
		return h.proxyFor(w, r, rt, ri)
	}
	st, err := rt.cache.ServeFrom(w, r, ri, cache.Background{
		Context: h.transports.ctx.Context, // ends with this config (the embedded interface: no copy per request)
		Detach:  detachRequest,
		Fetcher: rt.revalidate,
	})
	ri.cacheStatus = st.String()
	return err
}

// detachRequest is the request a background revalidation sends for r: a
// clone whose context is ctx with copies of what the proxy reads from r's
// (the server, Caddy's vars, a fresh replacer), so nothing is shared with
// r's handling, which goes on (and is logged) while the revalidation runs.
func detachRequest(ctx context.Context, r *http.Request) *http.Request {
	rc := r.Context()
	vars := make(map[string]any)
	if m, ok := rc.Value(caddyhttp.VarsCtxKey).(map[string]any); ok {
		for k, v := range m {
			vars[k] = v
		}
	}
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, vars)
	ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, caddy.NewReplacer())
	if srv := rc.Value(caddyhttp.ServerCtxKey); srv != nil {
		ctx = context.WithValue(ctx, caddyhttp.ServerCtxKey, srv)
	}
	return r.Clone(ctx)
}
