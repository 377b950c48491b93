package smartproxy

import "github.com/caddy-smartproxy/smartproxy/cache"

// The status document and the metrics collector show the same tree, the
// live routes with their backends (health, breaker), limiter and cache:
// walkRoutes visits it once per request for either, and each is a
// routeVisitor that turns what it is shown into its own form.

// routeVisitor is one view of the live routes. For each route, route comes
// first, then backend for each member in pool order, then limiter and
// cache when the route has them.
type routeVisitor interface {
	route(rt *route, snap *snapshot)
	backend(rt *route, m *member, available bool)
	limiter(rt *route, l *routeLimiter, st bucketStats)
	cache(rt *route, s cache.Stats)
}

// walkRoutes shows v every live route (see liveRoutes).
func walkRoutes(v routeVisitor) {
	for _, rt := range liveRoutes() {
		snap := rt.pool.snap.Load()
		v.route(rt, snap)
		for i, m := range snap.members {
			v.backend(rt, m, snap.inSet[i])
		}
		if l := rt.limiter; l != nil {
			v.limiter(rt, l, l.buckets.stats())
		}
		if rt.cache != nil {
			v.cache(rt, rt.cache.Stats())
		}
	}
}
