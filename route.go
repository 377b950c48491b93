package smartproxy

import (
	"cmp"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/balancer"
	"github.com/caddy-smartproxy/smartproxy/cache"
	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/discovery"
)

// route is what a request is matched to: a pool of backends and the
// settings of its section.
type route struct {
	name      string // the route's id: server, site and short name (scope.go)
	short     string // the route's own name, as {http.smartproxy.route} gives it
	scope     scope
	pool      *pool
	transport http.RoundTripper
	retry     *retryPolicy
	caps      *routeCaps    // nil: no backend has an in-flight cap (queue.go)
	limiter   *routeLimiter // nil: no rate limit
	cache     *cache.Cache  // nil: no response cache
	// revalidate proxies the cache's background revalidations, which
	// belong to no client request, to this route's backends.
	revalidate cache.FetchFunc
	faults     faultTolerance // health checker and breaker subscriptions
	// discovery is the route's DNS watcher and members the member set it
	// drives (membership.go); both nil without discovery.
	discovery *pooledWatcher
	members   *membership
	metrics   routeMetrics
	algorithm string
	// pooledOut: the transport keeps no reference to a request after its
	// response, so outbound requests are pooled (h1 only).
	pooledOut bool
	h2c       bool    // the backends speak h2c, which cannot carry an Upgrade
	shaping   shaping // issue 17: per-backend TLS, Host, headers (shaping.go)
	// bodyTimeout bounds the arrival of the client's request body
	// (timeouts.request_body); 0: no bound.
	bodyTimeout time.Duration
}

// buildRoute makes one route: its members (each backend with its shared
// totals, breaker and health record), the pool over them, the transport,
// then what watches and limits it, and the DNS discovery that adds
// members (membership.go).
//
// short is the route's own name ("default", "api.example.com/v1/"); every
// key of shared state, metrics label and status entry uses its id, which
// adds the handler's server and site (see scope.go).
func (h *Handler) buildRoute(ctx caddy.Context, short string, s config.Section) (*route, error) {
	name := h.scope.qualify(short)
	ms := memberSettings{faults: newFaultSettings(s), closeDelay: time.Duration(s.StreamCloseDelay), fleet: h.fleet,
		maxRequests: config.MaxRequestsOf(config.Backend{}, s.LoadBalancer)}
	members := make([]*member, len(s.Backends))
	subs := make([]*pooledBreaker, len(s.Backends))
	bs := make([]*backend.Backend, len(s.Backends))
	caps, err := newRouteCaps(&h.holds, name, s)
	if err != nil {
		return nil, err
	}
	scheme := ""
	for i, bc := range s.Backends {
		b, err := backend.New(bc.URL, bc.WeightOrDefault())
		if err != nil {
			return nil, fmt.Errorf("backends[%d]: %w", i, err)
		}
		bs[i] = b
		if scheme == "" {
			scheme = b.URL.Scheme
		} else if b.URL.Scheme != scheme {
			return nil, fmt.Errorf("backends[%d]: %q: one route's backends must share a scheme (%s, not %s)", i, bc.URL, scheme, b.URL.Scheme)
		}
		if members[i], subs[i], err = h.buildMember(&h.holds, name, b, bc.Backup, ms); err != nil {
			return nil, fmt.Errorf("backends[%d]: %w", i, err)
		}
		if err := caps.attach(&h.holds, name, members[i], config.MaxRequestsOf(bc, s.LoadBalancer)); err != nil {
			return nil, fmt.Errorf("backends[%d]: %w", i, err)
		}
	}
	var watcher *pooledWatcher
	if s.Discovery != nil && s.Discovery.DNS != nil {
		if scheme == "" {
			scheme = cmp.Or(s.Discovery.DNS.Scheme, discovery.DefaultScheme)
		}
		var err error
		if watcher, err = acquireWatcher(&h.holds, name, s.Discovery.DNS); err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
	}
	var slowStart time.Duration
	var panicThreshold float64
	if lb := s.LoadBalancer; lb != nil {
		slowStart, panicThreshold = time.Duration(lb.SlowStart), lb.PanicThreshold
	}
	bal, err := balancer.New(balancer.Config{
		Algorithm: s.LoadBalancer.AlgorithmOrDefault(),
		HashKey:   hashKeyFunc(s.LoadBalancer),
		SlowStart: slowStart,
	})
	if err != nil {
		return nil, fmt.Errorf("load_balancer: %w", err)
	}
	var named *namedTransports // discovered https backends', by name (transport_named.go)
	if watcher != nil && scheme == "https" && (s.TLS == nil || s.TLS.ServerName == "") {
		tm, bt := s.EffectiveTimeouts(), s.TLS
		named = &namedTransports{build: func(serverName string) (http.RoundTripper, error) {
			return h.transports.build(tm, scheme, bt, serverName)
		}}
	}
	tr, err := h.transports.get(s.EffectiveTimeouts(), scheme, s.TLS)
	if err != nil {
		return nil, err
	}
	sh, err := h.newShaping(name, s, bs, scheme)
	if err != nil {
		return nil, err
	}
	rt := &route{
		name:      name,
		short:     short,
		scope:     h.scope,
		pool:      newPool(members, bal, panicThreshold),
		transport: tr,
		shaping:   sh,
		retry:     newRetryPolicy(s.Retries),
		caps:      caps,
		pooledOut: isH1(tr),
		h2c:       scheme == "h2c",
		// timeouts.request_body (requestbody.go)
		bodyTimeout: time.Duration(s.EffectiveTimeouts().RequestBody),
		metrics:     newRouteMetrics(name),
		algorithm:   s.LoadBalancer.AlgorithmOrDefault(),
	}
	if lb := s.LoadBalancer; lb != nil && lb.Sticky != nil {
		st, err := newStickiness(&h.holds, name, routePath(short), lb.Sticky)
		if err != nil {
			return nil, err
		}
		rt.pool.setSticky(st)
	}
	h.routes = append(h.routes, rt)
	if err := h.watch(ctx, rt, ms.faults, subs); err != nil {
		return nil, err
	}
	if watcher != nil {
		rt.discovery = watcher
		h.startDiscovery(rt, watcher, ms, scheme, named)
	}
	if s.RateLimit != nil {
		if rt.limiter, err = newRouteLimiter(&h.holds, name, s.RateLimit, rt.metrics, h.logger); err != nil {
			return nil, err
		}
	}
	if s.Cache != nil {
		if rt.cache, err = newRouteCache(&h.holds, name, s.Cache, h.logger); err != nil {
			return nil, err
		}
		rt.revalidate = func(w http.ResponseWriter, r *http.Request) error {
			return h.proxy(w, r, rt, &requestInfo{h: h, rt: rt, route: short, background: true})
		}
	}
	return rt, nil
}

// inFlights are the backends' counts of requests in flight, kept across
// reloads: tunnels outlive the config that opened them (tunnel.go).
var inFlights = newShared[*atomic.Int64]("inflight", nil)

// memberSettings are what a route's members are made with.
type memberSettings struct {
	faults     faultSettings
	closeDelay time.Duration // stream_close_delay
	fleet      *fleetState   // admin_state's shared store; nil: none
	// maxRequests is the in-flight cap of a backend that sets none
	// (load_balancer.max_requests), the cap of every discovered one.
	maxRequests int
}

// buildMember makes the member of route id for backend b, with its request
// totals, its tunnels and (when the section has them) its breaker and
// health record, all held in hs across reloads. It returns the breaker's
// fan-out, for the route to subscribe to, or nil.
func (h *Handler) buildMember(hs *holds, id string, b *backend.Backend, backup bool, ms memberSettings) (*member, *pooledBreaker, error) {
	m := &member{b: b, backup: backup}
	totals, err := backendTotals.acquire(hs, stateKey{route: id, backend: b.Name}, func() (*requestTotals, error) {
		return new(requestTotals), nil
	})
	if err != nil {
		return nil, nil, err
	}
	m.metrics = newBackendMetrics(id, b.Name, totals)
	inflight, err := inFlights.acquire(hs, stateKey{route: id, backend: b.Name}, func() (*atomic.Int64, error) {
		return new(atomic.Int64), nil
	})
	if err != nil {
		return nil, nil, err
	}
	b.ShareInFlight(inflight)
	if m.tunnels, err = acquireTunnels(hs, id, b.Name, ms.closeDelay); err != nil {
		return nil, nil, err
	}
	if err := acquireAdmin(hs, m, id, ms.fleet); err != nil { // drain, maint, live weight (adminstate.go)
		return nil, nil, err
	}
	pb, err := memberFaults(hs, m, id, ms.faults)
	if err != nil {
		return nil, nil, err
	}
	return m, pb, nil
}

// hashKeyFunc returns what the hashing strategies hash: the client IP that
// Caddy resolved (honouring trusted_proxies), a header, or the URI.
func hashKeyFunc(lb *config.LoadBalancer) func(*http.Request) string {
	switch lb.AlgorithmOrDefault() {
	case "ip_hash":
		return func(r *http.Request) string {
			ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
			return ip
		}
	case "header_hash":
		name := http.CanonicalHeaderKey(lb.HashHeader)
		return func(r *http.Request) string {
			if v := r.Header[name]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
	case "uri_hash":
		return func(r *http.Request) string { return r.RequestURI }
	}
	return nil
}
