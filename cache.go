package smartproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-smartproxy/smartproxy/cache"
	"github.com/caddy-smartproxy/smartproxy/config"
)

// caches keeps response caches across config reloads: a route whose cache
// settings are unchanged keeps what it stored. The admin API's purge
// endpoint reaches every live cache through this pool.
var caches = caddy.NewUsagePool()

type pooledCache struct {
	*cache.Cache
	route string
}

func (pooledCache) Destruct() error { return nil }

// newRouteCache gets the route's cache from the pool (or makes it) and
// returns the pool key to release in Cleanup.
func newRouteCache(routeName string, cc *config.Cache) (*cache.Cache, string, error) {
	cj, err := json.Marshal(cc)
	if err != nil {
		return nil, "", err
	}
	poolKey := "cache|" + routeName + "|" + string(cj) + listsOff(cc)
	v, _, err := caches.LoadOrNew(poolKey, func() (caddy.Destructor, error) {
		c, err := cache.New(cc.Settings())
		if err != nil {
			return nil, err
		}
		return pooledCache{Cache: c, route: routeName}, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("cache: %w", err)
	}
	return v.(pooledCache).Cache, poolKey, nil
}

// listsOff tells apart, in a pool key, a list set empty (feature off) from
// one left out (the default), which omitempty marshals alike.
func listsOff(cc *config.Cache) string {
	s := ""
	if cc.TagHeaders != nil && len(cc.TagHeaders) == 0 {
		s += "|no-tags"
	}
	if cc.Targets != nil && len(cc.Targets) == 0 {
		s += "|no-targets"
	}
	return s
}

// serveCached answers r through the route's cache; misses go to the
// backends through the route's fetch function, built once at Provision.
// Protocol upgrades are never cached.
func (h *Handler) serveCached(w http.ResponseWriter, r *http.Request, rt *route, ri *requestInfo) error {
	if upgradeType(r.Header) != "" {
		return h.proxy(w, r, rt, ri)
	}
	st, err := rt.cache.ServeBackground(w, r, rt.fetch, cache.Background{
		Context: h.transports.ctx.Context, // ends with this config (the embedded interface: no copy per request)
		Detach:  detachRequest,
	})
	ri.cacheStatus = st.String()
	return err
}

// detachRequest is the request a background revalidation sends for r: a
// clone whose context is ctx with copies of what the proxy reads from r's
// (the server, Caddy's vars less this request's requestInfo, a fresh
// replacer), so nothing is shared with r's handling, which goes on (and
// is logged) while the revalidation runs.
func detachRequest(ctx context.Context, r *http.Request) *http.Request {
	rc := r.Context()
	vars := make(map[string]any)
	if m, ok := rc.Value(caddyhttp.VarsCtxKey).(map[string]any); ok {
		for k, v := range m {
			if k != infoVarKey {
				vars[k] = v
			}
		}
	}
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, vars)
	ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, caddy.NewReplacer())
	if srv := rc.Value(caddyhttp.ServerCtxKey); srv != nil {
		ctx = context.WithValue(ctx, caddyhttp.ServerCtxKey, srv)
	}
	return r.Clone(ctx)
}
