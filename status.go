package smartproxy

import (
	"time"

	"github.com/caddy-smartproxy/smartproxy/breaker"
	"github.com/caddy-smartproxy/smartproxy/cache"
	"github.com/caddy-smartproxy/smartproxy/cache/redistier"
)

// The status API's document: GET /smartproxy/status on Caddy's admin
// endpoint. Times are RFC 3339; durations are in milliseconds.

// StatusDoc is the whole status document.
type StatusDoc struct {
	// Generated is when the document was made.
	Generated time.Time `json:"generated"`
	// Routes are the routes of the running config(s).
	Routes []RouteStatus `json:"routes"`
}

// RouteStatus is one route: its strategy, its backends, its limiter and
// cache.
type RouteStatus struct {
	// Name is the route's id, unique among the running routes:
	// "server|site|route", e.g. "srv0|example.com|default".
	Name string `json:"name"`
	// Server, Site and Route are the parts of Name: the Caddy server's
	// name, the site's hosts ("*" for any) and the route's own name.
	Server    string `json:"server,omitempty"`
	Site      string `json:"site,omitempty"`
	Route     string `json:"route"`
	Algorithm string `json:"algorithm"`
	Panicking bool   `json:"panicking"` // balancing over all backends: too few available
	Available int    `json:"available"` // backends in the current snapshot
	// OnBackups: no primary backend is available, so the backups serve.
	OnBackups bool            `json:"on_backups,omitempty"`
	Backends  []BackendStatus `json:"backends"`
	// Discovery is the route's DNS discovery; absent without one.
	Discovery *DiscoveryStatus `json:"discovery,omitempty"`
	RateLimit *LimiterStatus   `json:"rate_limit,omitempty"`
	Cache     *CacheStatus     `json:"cache,omitempty"`
	Retries   uint64           `json:"retries"`         // requests retried on another backend
	Queue     *QueueStatus     `json:"queue,omitempty"` // set when a backend has max_requests
}

// QueueStatus is a route's queue of requests waiting for a backend below
// its max_requests (shared by the configs of a reload).
type QueueStatus struct {
	Length    int64   `json:"length"`     // waiting now
	Size      int64   `json:"size"`       // most that may wait; 0: no queue
	TimeoutMS float64 `json:"timeout_ms"` // longest wait
	Queued    uint64  `json:"queued"`     // requests that waited
	TimedOut  uint64  `json:"timed_out"`  // of those, answered 503 after the timeout
	Canceled  uint64  `json:"canceled"`   // of those, whose client went away
	Rejected  uint64  `json:"rejected"`   // answered 503 at once: the queue full, or none
	// WaitMS is the total time waited by the requests that got a slot.
	WaitMS float64 `json:"wait_ms"`
}

// BackendStatus is one backend of a route.
type BackendStatus struct {
	URL string `json:"url"`
	// Weight is the weight in force: the configured one, or the one set
	// through the admin API; ConfiguredWeight is the config's, given only
	// when they differ.
	Weight           int  `json:"weight"`
	ConfiguredWeight *int `json:"configured_weight,omitempty"`
	// AdminState is what the admin API set: ready, drain or maint.
	AdminState string `json:"admin_state"`
	Available  bool   `json:"available"` // takes new requests now
	// Backup: the backend serves only while no primary is available.
	Backup   bool  `json:"backup,omitempty"`
	InFlight int64 `json:"in_flight"`
	// MaxRequests is the backend's in-flight cap (0: none); with a cap,
	// InFlight counts the route's requests of every config.
	MaxRequests int64  `json:"max_requests,omitempty"`
	Requests    uint64 `json:"requests"` // sent since the backend was first configured
	Failures    uint64 `json:"failures"` // of those: no answer, or 5xx
	// ErrorRate is Failures / Requests.
	ErrorRate float64 `json:"error_rate"`
	// LatencyMS is the decaying average of time to response headers.
	LatencyMS float64 `json:"latency_ms"`
	// LatencyP50MS and LatencyP99MS are percentiles of the times to
	// response headers of the last 1-2 minutes; null: no response in that
	// time. History is the last 15 minutes (statushistory.go).
	LatencyP50MS *float64        `json:"latency_p50_ms"`
	LatencyP99MS *float64        `json:"latency_p99_ms"`
	History      *BackendHistory `json:"history,omitempty"`
	Health       *HealthStatus   `json:"health,omitempty"`
	Breaker      *BreakerStatus  `json:"breaker,omitempty"`
}

// HealthStatus is a backend's health as its checker sees it.
type HealthStatus struct {
	State         string     `json:"state"` // healthy or unhealthy
	Since         *time.Time `json:"since,omitempty"`
	Reason        string     `json:"reason,omitempty"`
	LastCheck     *time.Time `json:"last_check,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastLatencyMS float64    `json:"last_latency_ms"`
	ChecksPassed  uint64     `json:"checks_passed"`
	ChecksFailed  uint64     `json:"checks_failed"`
}

// BreakerStatus is a backend's circuit breaker.
type BreakerStatus struct {
	State               string     `json:"state"` // closed, half-open or open
	NextProbe           *time.Time `json:"next_probe,omitempty"`
	Trips               uint64     `json:"trips"`
	BackoffMS           float64    `json:"backoff_ms"`
	ConsecutiveFailures int64      `json:"consecutive_failures"`
}

// LimiterStatus is a route's rate limiter.
type LimiterStatus struct {
	Store             string  `json:"store"`              // local or redis
	Degraded          bool    `json:"degraded,omitempty"` // redis unreachable: failure policy in force
	RequestsPerSecond float64 `json:"requests_per_second"`
	Burst             int     `json:"burst"`
	Keys              int     `json:"keys"`
	Refused           uint64  `json:"refused"` // requests answered 429
	Evictions         uint64  `json:"evictions"`
}

// CacheStatus is a route's response cache.
type CacheStatus struct {
	Hits        uint64 `json:"hits"`
	Misses      uint64 `json:"misses"`
	StaleServed uint64 `json:"stale_served"`
	Coalesced   uint64 `json:"coalesced"`
	Evictions   uint64 `json:"evictions"`
	Entries     int    `json:"entries"`
	Bytes       int64  `json:"bytes"`

	// Shared is the shared tier (cache.shared), when there is one.
	Shared *SharedCacheStatus `json:"shared,omitempty"`
}

// SharedCacheStatus is a route's part of the shared cache tier.
type SharedCacheStatus struct {
	Hits        uint64 `json:"hits"`        // answered from Redis
	Stores      uint64 `json:"stores"`      // written to Redis
	BadRecords  uint64 `json:"bad_records"` // refused as corrupt or foreign
	Down        bool   `json:"down"`        // Redis unreachable: memory only
	Transitions uint64 `json:"transitions"` // times Redis went down or came back
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// status builds the status document of the live routes.
func status(now time.Time) StatusDoc {
	v := &statusView{doc: StatusDoc{Generated: now, Routes: []RouteStatus{}}, now: now}
	walkRoutes(v)
	return v.doc
}

// statusView is the status document's routeVisitor.
type statusView struct {
	doc StatusDoc
	now time.Time
}

// last is the route being shown.
func (v *statusView) last() *RouteStatus { return &v.doc.Routes[len(v.doc.Routes)-1] }

func (v *statusView) route(rt *route, snap *snapshot) {
	v.doc.Routes = append(v.doc.Routes, RouteStatus{
		Name:      rt.name,
		Server:    rt.scope.server,
		Site:      rt.scope.site,
		Route:     rt.short,
		Algorithm: rt.algorithm,
		Panicking: snap.panicking,
		Available: len(snap.available),
		OnBackups: snap.backups,
		Backends:  make([]BackendStatus, 0, len(snap.members)),
		Retries:   counterValue(rt.metrics.retries),
		Discovery: discoveryStatus(rt.discovery),
		Queue:     rt.caps.status(),
	})
}

func (v *statusView) backend(rt *route, m *member, available bool) {
	v.last().Backends = append(v.last().Backends, newBackendStatus(rt, m, available, v.now))
}

// backendStatus is the status object of m, a member of rt, as of now.
func backendStatus(rt *route, m *member, now time.Time) BackendStatus {
	return newBackendStatus(rt, m, contains(rt.pool.snap.Load().available, m.b), now)
}

func newBackendStatus(rt *route, m *member, available bool, now time.Time) BackendStatus {
	bs := BackendStatus{
		URL:        m.b.Name,
		Weight:     m.b.Weight(),
		AdminState: m.adminState().String(),
		Available:  available,
		Backup:     m.backup,
		InFlight:   m.b.InFlight(),
		Requests:   m.metrics.requests.Load(),
		Failures:   m.metrics.failures.Load(),
		LatencyMS:  ms(m.b.Latency(now)),
	}
	if m.admin != nil && bs.Weight != m.configWeight {
		cw := m.configWeight
		bs.ConfiguredWeight = &cw
	}
	if m.gate != nil {
		bs.MaxRequests, bs.InFlight = m.gate.max, m.gate.inFlight()
	}
	if bs.Requests > 0 {
		bs.ErrorRate = float64(bs.Failures) / float64(bs.Requests)
	}
	if m.health != nil {
		s := m.health.Status()
		ok, bad := m.health.Checks()
		hs := &HealthStatus{
			State:         s.State.String(),
			Since:         timePtr(s.Since),
			Reason:        s.Reason,
			LastCheck:     timePtr(s.LastCheck),
			LastLatencyMS: ms(s.LastLatency),
			ChecksPassed:  ok,
			ChecksFailed:  bad,
		}
		if s.LastError != nil {
			hs.LastError = s.LastError.Error()
		}
		bs.Health = hs
	}
	if m.breaker != nil {
		m.breaker.State() // move an expired open breaker to half-open
		c := m.breaker.Counts()
		bst := &BreakerStatus{
			State:               c.State.String(),
			Trips:               c.Trips,
			BackoffMS:           ms(c.Backoff),
			ConsecutiveFailures: c.ConsecutiveFailures,
		}
		if c.State == breaker.Open {
			bst.NextProbe = timePtr(c.NextProbe)
		}
		bs.Breaker = bst
	}
	addHistory(rt.name, m, now, &bs)
	return bs
}

func (v *statusView) limiter(_ *route, l *routeLimiter, st bucketStats) {
	v.last().RateLimit = &LimiterStatus{
		Store: st.store, Degraded: st.degraded, RequestsPerSecond: l.rps, Burst: l.burst,
		Keys: st.keys, Evictions: st.evictions, Refused: counterValue(l.limited),
	}
}

func (v *statusView) cache(rt *route, s cache.Stats) {
	cs := &CacheStatus{
		Hits: s.Hits, Misses: s.Misses, StaleServed: s.StaleServed, Coalesced: s.Coalesced,
		Evictions: s.Evictions, Entries: s.Entries, Bytes: s.Bytes,
	}
	if t, ok := rt.cache.Settings().Tier.(*redistier.Tier); ok {
		cs.Shared = &SharedCacheStatus{Hits: s.SharedHits, Stores: s.SharedStores, BadRecords: s.SharedBad,
			Down: t.Down(), Transitions: t.Transitions()}
	}
	v.last().Cache = cs
}
