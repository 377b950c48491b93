package smartproxy

import (
	"errors"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddy-smartproxy/smartproxy/breaker"
	"github.com/caddy-smartproxy/smartproxy/cache"
	"github.com/caddy-smartproxy/smartproxy/cache/redistier"
	"github.com/caddy-smartproxy/smartproxy/health"
)

// Metrics. Per-request figures (requests by status class, the duration
// histogram) are Prometheus counters resolved once per backend at Provision,
// so a request pays a few atomic adds and no label lookup. Everything that
// already lives in an atomic somewhere (in-flight, health, breakers, cache
// and limiter stats) is read at scrape time by one collector, so it costs
// the request path nothing. Labels are bounded: route names and backend
// URLs from the config, never a client address or a request path.

const metricsNamespace = "caddy"
const metricsSubsystem = "smartproxy"

var metrics struct {
	once        sync.Once
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	transitions *prometheus.CounterVec
	retries     *prometheus.CounterVec
	budget      *prometheus.CounterVec
	noBackend   *prometheus.CounterVec
	allowed     *prometheus.CounterVec
	limited     *prometheus.CounterVec
	mirror      *prometheus.CounterVec // mirror.go
	collector   *stateCollector
}

func initMetrics() {
	metrics.once.Do(func() {
		opts := func(name, help string) prometheus.CounterOpts {
			return prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: name, Help: help}
		}
		metrics.requests = prometheus.NewCounterVec(opts("requests_total",
			"Requests sent to a backend, by the class of its answer (error: no answer)."),
			[]string{"route", "backend", "code_class"})
		metrics.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Subsystem: metricsSubsystem, Name: "backend_response_seconds",
			Help:    "Time from sending a request to a backend until its response headers arrived.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "backend"})
		metrics.transitions = prometheus.NewCounterVec(opts("health_transitions_total",
			"Health state changes of a backend, by the state entered."), []string{"route", "backend", "to"})
		metrics.retries = prometheus.NewCounterVec(opts("retries_total",
			"Requests retried on another backend."), []string{"route"})
		metrics.budget = prometheus.NewCounterVec(opts("retry_budget_exhausted_total",
			"Retries not made because the retry budget was spent."), []string{"route"})
		metrics.noBackend = prometheus.NewCounterVec(opts("no_backend_total",
			"Requests answered 503 because no backend was available."), []string{"route"})
		metrics.allowed = prometheus.NewCounterVec(opts("ratelimit_allowed_total",
			"Requests the rate limiter let through."), []string{"route"})
		metrics.limited = prometheus.NewCounterVec(opts("ratelimit_limited_total",
			"Requests the rate limiter refused (429)."), []string{"route"})
		metrics.mirror = prometheus.NewCounterVec(opts("mirror_requests_total",
			"Mirrored copies of requests: sent, failed (no answer or 5xx), dropped (max_in_flight), too_large (body over max_body_bytes)."),
			[]string{"route", "result"})
		metrics.collector = newStateCollector()
	})
}

// registerMetrics adds the collectors to the config's registry; they are
// built once and survive reloads, so the same ones are registered again.
func registerMetrics(reg *prometheus.Registry) error {
	initMetrics()
	for _, c := range []prometheus.Collector{
		metrics.requests, metrics.duration, metrics.transitions, metrics.retries,
		metrics.budget, metrics.noBackend, metrics.allowed, metrics.limited, metrics.mirror, metrics.collector, discoveryMetrics,
	} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// backendMetrics are one backend's per-request metric children.
type backendMetrics struct {
	byClass  [6]prometheus.Counter // 0: no answer; 1-5: 1xx-5xx
	duration prometheus.Observer
	// requests and failures (no answer, or 5xx) feed the status API.
	requests, failures *atomic.Uint64
	latency            *latencyHist // the status page's percentiles
}

// newBackendMetrics resolves a backend's metric children. The series stay
// as long as totals does: when the last config holding totals lets go of
// it (its Destruct), they are deleted (see seriesOwners).
func newBackendMetrics(route, backendName string, totals *requestTotals) backendMetrics {
	initMetrics()
	series.mu.Lock()
	defer series.mu.Unlock()
	series.own(seriesKey{route, backendName}, totals)
	m := backendMetrics{
		duration: metrics.duration.WithLabelValues(route, backendName),
		requests: &totals.requests,
		failures: &totals.failures,
		latency:  &totals.latency,
	}
	m.byClass[0] = metrics.requests.WithLabelValues(route, backendName, "error")
	for c := 1; c <= 5; c++ {
		m.byClass[c] = metrics.requests.WithLabelValues(route, backendName, strconv.Itoa(c)+"xx")
	}
	return m
}

// routeMetrics are one route's counters.
type routeMetrics struct {
	retries, budget, noBackend, allowed, limited prometheus.Counter
}

func newRouteMetrics(route string) routeMetrics {
	initMetrics()
	return routeMetrics{
		retries:   metrics.retries.WithLabelValues(route),
		budget:    metrics.budget.WithLabelValues(route),
		noBackend: metrics.noBackend.WithLabelValues(route),
		allowed:   metrics.allowed.WithLabelValues(route),
		limited:   metrics.limited.WithLabelValues(route),
	}
}

// stateCollector reads, at scrape time, the state of every live route.
type stateCollector struct {
	inFlight, healthy, adminState, weight, checks, checkLatency, breakerState, trips, backoff,
	limiterKeys, limiterEvictions, storeDegraded, storeTransitions, cacheHits, cacheMisses, cacheStale, cacheCoalesced,
	cacheEvictions, cacheEntries, cacheBytes *prometheus.Desc
	sharedHits, sharedStores, sharedBad, sharedDown, sharedTransitions *prometheus.Desc
	caps                                                               capsDescs // in-flight caps and the queue (metrics_caps.go)
}

func newStateCollector() *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, metricsSubsystem, name), help, labels, nil)
	}
	rb := []string{"route", "backend"}
	return &stateCollector{
		inFlight:         d("backend_in_flight", "Requests to the backend not yet finished.", rb...),
		healthy:          d("backend_healthy", "1 if the backend is healthy (always 1 without health checks), else 0.", rb...),
		adminState:       d("backend_admin_state", "The backend's state set through the admin API: 0 ready, 1 drain, 2 maint.", rb...),
		weight:           d("backend_weight", "The backend's weight in force (the configured one, or one set through the admin API).", rb...),
		checks:           d("health_checks_total", "Active health checks, by result.", "route", "backend", "result"),
		checkLatency:     d("health_check_latency_seconds", "Duration of the backend's last active health check.", rb...),
		breakerState:     d("breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.", rb...),
		trips:            d("breaker_trips_total", "Times the backend's breaker opened.", rb...),
		backoff:          d("breaker_backoff_seconds", "Length of the breaker's current (or last) open period.", rb...),
		limiterKeys:      d("ratelimit_keys", "Rate-limit buckets held in memory.", "route"),
		limiterEvictions: d("ratelimit_evictions_total", "Rate-limit buckets evicted to stay within max_keys.", "route"),
		storeDegraded:    d("ratelimit_store_degraded", "1 while the shared (Redis) rate-limit store is unreachable and the failure policy applies.", "route"),
		storeTransitions: d("ratelimit_store_transitions_total", "Times the shared rate-limit store became unreachable or reachable again.", "route"),
		cacheHits:        d("cache_hits_total", "Responses served from the cache.", "route"),
		cacheMisses:      d("cache_misses_total", "Cacheable requests forwarded to a backend.", "route"),
		cacheStale:       d("cache_stale_served_total", "Stale responses served because no backend could answer.", "route"),
		cacheCoalesced:   d("cache_coalesced_total", "Requests that waited for another's backend request.", "route"),
		cacheEvictions:   d("cache_evictions_total", "Responses evicted to stay within max_size / max_bytes.", "route"),
		cacheEntries:     d("cache_entries", "Responses stored.", "route"),
		cacheBytes:       d("cache_bytes", "Bytes held by stored responses.", "route"),

		sharedHits:        d("cache_shared_hits_total", "Responses served from the shared cache tier (Redis).", "route"),
		sharedStores:      d("cache_shared_stores_total", "Responses written to the shared cache tier.", "route"),
		sharedBad:         d("cache_shared_bad_records_total", "Records from the shared cache tier refused as corrupt or foreign.", "route"),
		sharedDown:        d("cache_shared_down", "1 while the shared cache tier's Redis is unreachable and the cache serves from memory alone.", "route"),
		sharedTransitions: d("cache_shared_transitions_total", "Times the shared cache tier's Redis became unreachable or reachable again.", "route"),
		caps:              newCapsDescs(d),
	}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.inFlight, c.healthy, c.adminState, c.weight, c.checks, c.checkLatency, c.breakerState,
		c.trips, c.backoff, c.limiterKeys, c.limiterEvictions, c.storeDegraded, c.storeTransitions, c.cacheHits, c.cacheMisses, c.cacheStale,
		c.cacheCoalesced, c.cacheEvictions, c.cacheEntries, c.cacheBytes,
		c.sharedHits, c.sharedStores, c.sharedBad, c.sharedDown, c.sharedTransitions} {
		ch <- d
	}
	c.caps.describe(ch)
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	walkRoutes(metricsView{c, ch})
}

// metricsView is the collector's routeVisitor: each figure becomes a
// constant metric.
type metricsView struct {
	c  *stateCollector
	ch chan<- prometheus.Metric
}

func (v metricsView) gauge(d *prometheus.Desc, x float64, labels ...string) {
	v.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, x, labels...)
}

func (v metricsView) counter(d *prometheus.Desc, x float64, labels ...string) {
	v.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, x, labels...)
}

func (v metricsView) route(rt *route, _ *snapshot) { v.caps(rt) }

func (v metricsView) backend(rt *route, m *member, _ bool) {
	c, name := v.c, m.b.Name
	v.gauge(c.inFlight, float64(m.b.InFlight()), rt.name, name)
	v.gauge(c.adminState, float64(m.adminState()), rt.name, name)
	v.gauge(c.weight, float64(m.b.Weight()), rt.name, name)
	healthy := 1.0
	if m.health != nil {
		if m.health.State() != health.Healthy {
			healthy = 0
		}
		ok, bad := m.health.Checks()
		v.counter(c.checks, float64(ok), rt.name, name, "pass")
		v.counter(c.checks, float64(bad), rt.name, name, "fail")
		v.gauge(c.checkLatency, m.health.Status().LastLatency.Seconds(), rt.name, name)
	}
	v.gauge(c.healthy, healthy, rt.name, name)
	if m.gate != nil {
		v.gauge(c.caps.maxRequests, float64(m.gate.max), rt.name, name)
	}
	if m.breaker != nil {
		v.gauge(c.breakerState, float64(breakerGauge(m.breaker)), rt.name, name)
		v.counter(c.trips, float64(m.breaker.Trips()), rt.name, name)
		v.gauge(c.backoff, m.breaker.CurrentBackoff().Seconds(), rt.name, name)
	}
}

func (v metricsView) limiter(rt *route, _ *routeLimiter, st bucketStats) {
	c := v.c
	v.gauge(c.limiterKeys, float64(st.keys), rt.name)
	if st.shared {
		degraded := 0.0
		if st.degraded {
			degraded = 1
		}
		v.gauge(c.storeDegraded, degraded, rt.name)
		v.counter(c.storeTransitions, float64(st.transitions), rt.name)
	} else {
		v.counter(c.limiterEvictions, float64(st.evictions), rt.name)
	}
}

func (v metricsView) cache(rt *route, s cache.Stats) {
	c := v.c
	v.counter(c.cacheHits, float64(s.Hits), rt.name)
	v.counter(c.cacheMisses, float64(s.Misses), rt.name)
	v.counter(c.cacheStale, float64(s.StaleServed), rt.name)
	v.counter(c.cacheCoalesced, float64(s.Coalesced), rt.name)
	v.counter(c.cacheEvictions, float64(s.Evictions), rt.name)
	v.gauge(c.cacheEntries, float64(s.Entries), rt.name)
	v.gauge(c.cacheBytes, float64(s.Bytes), rt.name)
	if t, ok := rt.cache.Settings().Tier.(*redistier.Tier); ok {
		v.counter(c.sharedHits, float64(s.SharedHits), rt.name)
		v.counter(c.sharedStores, float64(s.SharedStores), rt.name)
		v.counter(c.sharedBad, float64(s.SharedBad), rt.name)
		down := 0.0
		if t.Down() {
			down = 1
		}
		v.gauge(c.sharedDown, down, rt.name)
		v.counter(c.sharedTransitions, float64(t.Transitions()), rt.name)
	}
}

// breakerGauge is the breaker's state as the gauge reports it (0 closed,
// 1 half-open, 2 open); State also moves an expired open breaker on.
func breakerGauge(b *breaker.Breaker) int { return int(b.State()) }

// Live routes: every provisioned handler registers itself here until its
// Cleanup, so the metrics collector and the admin API can read the routes
// of the running configs. It is a UsagePool, like all state of this
// package that outlives one config.
var liveHandlers = caddy.NewUsagePool()

type liveHandler struct {
	h   *Handler
	gen uint64
}

func (liveHandler) Destruct() error { return nil }

var handlerGen atomic.Uint64

// liveRoutes returns the routes of the running configs, newest config
// first, one per route name: while a reload overlaps two configs, the new
// one's routes are reported.
func liveRoutes() []*route {
	var hs []liveHandler
	liveHandlers.Range(func(_, v any) bool {
		hs = append(hs, v.(liveHandler))
		return true
	})
	sort.Slice(hs, func(i, j int) bool { return hs[i].gen > hs[j].gen })
	seen := map[string]bool{}
	var out []*route
	for _, lh := range hs {
		for _, rt := range lh.h.routes {
			if !seen[rt.name] {
				seen[rt.name] = true
				out = append(out, rt)
			}
		}
	}
	return out
}

// backendTotals keeps each backend's request totals across reloads, for
// the status API's counts and error rate. An entry lives while some config
// holds it, and so do the metric series of its backend.
var backendTotals = newShared("totals", (*requestTotals).Destruct)

type requestTotals struct {
	requests, failures atomic.Uint64
	latency            latencyHist // times to response headers (latencyhist.go)
	// keys are the label sets whose series this owns (guarded by
	// series.mu).
	keys []seriesKey
}

// Destruct deletes the metric series of the backend (and of its route,
// when no backend of the route is left): the last config that held the
// backend is gone.
func (t *requestTotals) Destruct() error {
	series.mu.Lock()
	defer series.mu.Unlock()
	for _, k := range t.keys {
		series.disown(k, t)
	}
	t.keys = nil
	return nil
}

// Metric series lifetime. The per-request series of a backend (requests by
// class, the latency histogram, health transitions) and of a route (retries,
// limiter, no-backend counters) are children of Vecs, and a child lives
// until it is deleted. They are tied to the backend's requestTotals, which
// every config naming the backend holds in backendTotals: a reload that
// keeps the backend holds it again before the old config lets go, so its
// counters never reset; a backend that left is deleted with its last
// holder, and a route's series with its last backend. At 2,000 backends
// changing over 8 reloads, never deleting them grew /metrics from 5.6 to
// 42 MB. Labels are taken as given: nothing here parses a route name.
var series = seriesOwners{
	owner:    map[seriesKey]*requestTotals{},
	backends: map[string]int{},
}

// seriesKey is one backend's label values.
type seriesKey struct{ route, backend string }

// seriesOwners records which requestTotals owns each backend's series and
// how many backends each route has. A UsagePool calls Destruct outside its
// lock, so a config being built may already hold a fresh requestTotals for
// the same backend when the old one is destructed: only the current owner
// deletes.
type seriesOwners struct {
	mu       sync.Mutex
	owner    map[seriesKey]*requestTotals
	backends map[string]int // route -> owned backend keys
}

// own makes t the owner of k's series; series.mu is held.
func (s *seriesOwners) own(k seriesKey, t *requestTotals) {
	prev, ok := s.owner[k]
	if prev == t {
		return
	}
	if ok {
		// A newer holder of the same backend (the old one is on its way
		// out): it takes the series over as they are.
		prev.keys = slices.DeleteFunc(prev.keys, func(x seriesKey) bool { return x == k })
	} else {
		s.backends[k.route]++
	}
	s.owner[k] = t
	t.keys = append(t.keys, k)
}

// disown deletes k's series if t still owns them; series.mu is held.
func (s *seriesOwners) disown(k seriesKey, t *requestTotals) {
	if s.owner[k] != t {
		return
	}
	delete(s.owner, k)
	deleteBackendSeries(k.route, k.backend)
	if s.backends[k.route]--; s.backends[k.route] <= 0 {
		delete(s.backends, k.route)
		deleteRouteSeries(k.route)
	}
}

func deleteBackendSeries(route, backendName string) {
	metrics.duration.DeleteLabelValues(route, backendName)
	metrics.requests.DeleteLabelValues(route, backendName, "error")
	for c := 1; c <= 5; c++ {
		metrics.requests.DeleteLabelValues(route, backendName, strconv.Itoa(c)+"xx")
	}
	// Transitions are made on the fly (faults.go), one per state entered.
	// Deleted by exact labels: a partial match scans every series, which
	// is quadratic when thousands of backends leave at once.
	for _, to := range []health.State{health.Healthy, health.Unhealthy} {
		metrics.transitions.DeleteLabelValues(route, backendName, to.String())
	}
}

func deleteRouteSeries(route string) {
	for _, v := range []*prometheus.CounterVec{metrics.retries, metrics.budget, metrics.noBackend, metrics.allowed, metrics.limited} {
		v.DeleteLabelValues(route)
	}
	for _, result := range mirrorResults {
		metrics.mirror.DeleteLabelValues(route, result)
	}
}
