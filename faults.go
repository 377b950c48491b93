package smartproxy

import (
	"fmt"
	"net/url"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/breaker"
	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/health"
)

// Health records and breakers outlive a config: a reload must not make a
// known-dead backend trusted again, nor forget a breaker's backoff. Both are
// kept per route and backend in usage pools. A health record survives any
// change of the health settings; a breaker survives while its settings are
// unchanged.
var (
	healthRecords = newShared[*health.Record]("health", nil)
	breakers      = newShared[*pooledBreaker]("breaker", nil)
)

// pooledBreaker is a breaker with the observers of the configs that use
// it: its state-change hook is fixed when it is made, but the configs (and
// their pools) come and go with reloads.
type pooledBreaker struct {
	*breaker.Breaker
	subs fanout[breakerSub]
}

type breakerSub func(from, to breaker.State, reason string)

func (pb *pooledBreaker) subscribe(f breakerSub) (unsubscribe func()) { return pb.subs.subscribe(&f) }

func (pb *pooledBreaker) notify(from, to breaker.State, reason string) {
	pb.subs.each(func(f *breakerSub) { (*f)(from, to, reason) })
}

// faultTolerance is what one route's health checking and breakers need to
// be set up and torn down.
type faultTolerance struct {
	checker *health.Checker
	unsubs  []func()
}

// faultSettings are a section's breaker and health settings, converted
// once per route.
type faultSettings struct {
	breaker    *config.CircuitBreaker // nil: no circuit breaker
	breakerSet breaker.Settings
	health     *health.Settings // nil: no health checking
}

func newFaultSettings(s config.Section) faultSettings {
	var fs faultSettings
	if s.CircuitBreaker != nil {
		fs.breaker, fs.breakerSet = s.CircuitBreaker, s.CircuitBreaker.Settings()
	}
	if s.HealthCheck != nil {
		hs := s.HealthCheck.Settings()
		fs.health = &hs
	}
	return fs
}

// memberFaults gives m, a member of route id, its shared breaker and
// health record as fs asks, held in hs. A breaker survives while its
// settings are unchanged, a health record any change of the health
// settings. It returns the breaker's fan-out, or nil.
func memberFaults(hs *holds, m *member, id string, fs faultSettings) (*pooledBreaker, error) {
	var pb *pooledBreaker
	if fs.breaker != nil {
		k := stateKey{route: id, backend: m.b.Name, settings: fs.breaker}
		var err error
		pb, err = breakers.acquire(hs, k, func() (*pooledBreaker, error) {
			pb := new(pooledBreaker)
			set := fs.breakerSet
			set.OnStateChange = pb.notify
			b, err := breaker.New(set)
			if err != nil {
				return nil, err
			}
			pb.Breaker = b
			return pb, nil
		})
		if err != nil {
			return nil, fmt.Errorf("circuit_breaker: %w", err)
		}
		m.breaker = pb.Breaker
	}
	if fs.health != nil {
		rec, err := healthRecords.acquire(hs, stateKey{route: id, backend: m.b.Name}, func() (*health.Record, error) {
			return health.NewRecord(fs.health.InitialState), nil
		})
		if err != nil {
			return nil, fmt.Errorf("health_check: %w", err)
		}
		m.health = rec
	}
	return pb, nil
}

// watch subscribes the route to its members' breakers (subs, by member;
// nil entries have none) and starts its health checker, so that every
// transition rebuilds the pool's snapshot, is logged and, for health,
// becomes a Caddy event.
func (h *Handler) watch(ctx caddy.Context, rt *route, fs faultSettings, subs []*pooledBreaker) error {
	ft := &rt.faults
	for i, pb := range subs {
		if pb == nil {
			continue
		}
		name := rt.pool.members[i].b.Name // before any discovery: subs are by member
		ft.unsubs = append(ft.unsubs, pb.subscribe(func(from, to breaker.State, reason string) {
			h.breakerChanged(rt, name, from, to, reason)
		}))
	}
	if fs.health == nil {
		return nil
	}
	members := rt.pool.members
	targets := make([]health.Target, len(members))
	for i, m := range members {
		// A backend's own tls is its checks' too (nil: the route's).
		targets[i] = health.Target{Name: m.b.Name, URL: probeURL(m.b), Record: m.health, TLS: rt.shaping.ownTLS[m.b]}
	}
	logger := h.logger.Named("health")
	opts := []health.Option{health.WithLogger(func(msg string, fields ...any) {
		logger.Warn(msg, zap.Any("details", fields))
	})}
	if c := rt.shaping.healthClient(); c != nil { // the route's backend TLS (shaping.go)
		opts = append(opts, health.WithClient(c))
	}
	c, err := health.New(*fs.health, targets, opts...)
	if err != nil {
		return fmt.Errorf("health_check: %w", err)
	}
	ft.checker = c
	ft.unsubs = append(ft.unsubs, c.Subscribe(health.ObserverFunc(func(t health.Transition) {
		h.healthChanged(ctx, rt, t)
	})))
	c.Start(ctx)
	return nil
}

// probeURL is the URL health checks use for b: its own, scheme included,
// so that h2c backends are probed over h2c (the health package speaks it;
// an h2-only server would fail an HTTP/1.1 probe) and gRPC checks reach
// h2c and https backends alike.
func probeURL(b *backend.Backend) *url.URL {
	u := *b.URL
	return &u
}

// healthChanged is the handler's health observer: it rebuilds the route's
// snapshot, logs the transition and emits a Caddy event.
func (h *Handler) healthChanged(ctx caddy.Context, rt *route, t health.Transition) {
	rt.pool.rebuild()
	metrics.transitions.WithLabelValues(rt.name, t.Target, t.To.String()).Inc()
	lvl := h.logger.Info
	if t.To != health.Healthy {
		lvl = h.logger.Warn
	}
	lvl("backend health changed",
		zap.String("route", rt.name),
		zap.String("backend", t.Target),
		zap.Stringer("from", t.From),
		zap.Stringer("to", t.To),
		zap.String("reason", t.Reason))
	if h.events != nil {
		name := "healthy"
		if t.To != health.Healthy {
			name = "unhealthy"
		}
		h.events.Emit(ctx, name, map[string]any{"host": t.Target, "route": rt.name, "reason": t.Reason})
	}
}

// breakerChanged is the handler's breaker observer.
func (h *Handler) breakerChanged(rt *route, backendName string, from, to breaker.State, reason string) {
	rt.pool.rebuild()
	lvl := h.logger.Info
	if to == breaker.Open {
		lvl = h.logger.Warn
	}
	lvl("circuit breaker changed state",
		zap.String("route", rt.name),
		zap.String("backend", backendName),
		zap.Stringer("from", from),
		zap.Stringer("to", to),
		zap.String("reason", reason))
}

// stop tears down the route's checker and subscriptions.
func (ft *faultTolerance) stop() {
	if ft.checker != nil {
		ft.checker.Stop()
	}
	for _, u := range ft.unsubs {
		u()
	}
}
