package smartproxy

import (
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// State that outlives a config (caches, limiters, health records,
// breakers, totals) is shared through usage pools by key, and so are
// metrics series and status entries by label. Keyed by route name alone,
// every site's top-level route is "default": a request to one server could
// fill a cache another serves, and two sites' global limits drained each
// other. So every key and label carries the handler's scope: the name of
// the Caddy server it runs in and the hosts of the site (the server's
// top-level route) it sits under, both stable across reloads that keep
// them.

// scope is where a handler sits in Caddy's config.
type scope struct {
	server string // the HTTP server's name ("srv0"); "" outside a server
	site   string // the site's hosts, sorted and comma-joined; "*" for none
}

// qualify returns the scoped id of the route called name: "server|site|name",
// or name alone outside a server (a handler provisioned by a test).
func (s scope) qualify(name string) string {
	if s.server == "" {
		return name
	}
	return s.server + "|" + s.site + "|" + name
}

// handlerScope finds the scope of the handler ctx is provisioning. Caddy
// provisions a server's routes in order, and a route's raw handler JSON is
// dropped once its handlers are loaded, so the route being provisioned is
// the first whose handlers are still raw. Its host matchers (provisioned
// before any handler) name the site. Two handlers with the same settings in
// one site share their state.
func handlerScope(ctx caddy.Context) scope {
	srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)

	if !ok || srv == nil {
		return scope{}
	}
	s := scope{server: srv.Name(), site: "*"}
	if r := provisioning(srv.Routes); r != nil {
		s.site = routeHosts(r)
	} else if srv.Errors != nil {
		if r := provisioning(srv.Errors.Routes); r != nil {
			s.site = "errors:" + routeHosts(r)
		}
	}
	return s
}

// provisioning returns the route of rl whose handlers are being loaded.
func provisioning(rl caddyhttp.RouteList) *caddyhttp.Route {
	for i := range rl {
		if rl[i].HandlersRaw != nil && len(rl[i].Handlers) == 0 {
			return &rl[i]
		}
	}
	return nil
}

// routeHosts returns the hosts r's matchers match, sorted and comma-joined,
// or "*" when it matches any host.
func routeHosts(r *caddyhttp.Route) string {
	var hosts []string
	for _, ms := range r.MatcherSets {
		for _, m := range ms {
			switch hm := m.(type) {
			case caddyhttp.MatchHost:
				hosts = append(hosts, hm...)
			case *caddyhttp.MatchHost:
				hosts = append(hosts, (*hm)...)
			}
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	for i, h := range hosts {
		hosts[i] = strings.ToLower(h)
	}
	slices.Sort(hosts)
	return strings.Join(slices.Compact(hosts), ",")
}
