package smartproxy

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/balancer"
	"github.com/caddy-smartproxy/smartproxy/breaker"
	"github.com/caddy-smartproxy/smartproxy/health"
)

// pool ties a route's backends to its load-balancing strategy, its health
// records and its breakers. Picks read one immutable snapshot through an
// atomic pointer and take no lock; the snapshot is rebuilt only when the set
// of available backends changes (a health transition, a breaker trip or
// recovery), which the pool learns as an observer.
type pool struct {
	members []member // indexed by backend.Slot
	bal     balancer.Balancer
	// isAvailable is an extra availability filter; nil means none. Tests
	// use it to take backends out without a health checker.
	isAvailable func(*backend.Backend) bool
	// panicThreshold: when fewer than this fraction of the backends are
	// available, balance over all of them (Envoy's panic mode) rather than
	// overload the few. 0 = off.
	panicThreshold float64

	mu      sync.Mutex // serialises rebuilds, never taken by a pick
	started bool       // the first snapshot exists
	closed  bool       // the config is gone: no more timers
	timer   *time.Timer
	snap    atomic.Pointer[snapshot]
}

// member is one backend of a pool with the state that decides whether it
// may take requests.
type member struct {
	b       *backend.Backend
	health  *health.Record   // nil: no health checking
	breaker *breaker.Breaker // nil: no circuit breaker
	metrics backendMetrics
	// available is the backend's availability in the last snapshot
	// (guarded by pool.mu); a change to true starts its slow start.
	available bool
}

// snapshot is the immutable set of available backends and the picker built
// over it.
type snapshot struct {
	available []*backend.Backend
	picker    balancer.Picker // nil when available is empty
	panicking bool            // available is every backend, by panic mode
}

func newPool(members []member, bal balancer.Balancer, panicThreshold float64) *pool {
	for i := range members {
		members[i].b.Slot = i
	}
	p := &pool{members: members, bal: bal, panicThreshold: panicThreshold}
	p.rebuild()
	return p
}

// member returns the pool member of a backend the pool's picker returned.
func (p *pool) member(b *backend.Backend) *member { return &p.members[b.Slot] }

// availableNow reports whether m may take new requests: healthy, and its
// breaker would admit one.
func (p *pool) availableNow(m *member, now time.Time) bool {
	if m.health != nil && m.health.State() != health.Healthy {
		return false
	}
	if m.breaker != nil && !m.breaker.Ready(now) {
		return false
	}
	return p.isAvailable == nil || p.isAvailable(m.b)
}

// rebuild publishes a new snapshot of the available backends, and arms a
// timer for the earliest moment an open breaker will admit a probe (so the
// backend re-enters the snapshot then).
func (p *pool) rebuild() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	now := time.Now()
	avail := make([]*backend.Backend, 0, len(p.members))
	var nextProbe time.Time
	for i := range p.members {
		m := &p.members[i]
		ok := p.availableNow(m, now)
		if ok && !m.available && p.started {
			m.b.MarkAvailable(now) // slow start from here
		}
		m.available = ok
		if ok {
			avail = append(avail, m.b)
		} else if m.breaker != nil {
			if t := m.breaker.NextProbe(); !t.IsZero() && (nextProbe.IsZero() || t.Before(nextProbe)) {
				nextProbe = t
			}
		}
	}
	s := &snapshot{available: avail}
	if p.panicThreshold > 0 && len(avail) < len(p.members) &&
		float64(len(avail)) < p.panicThreshold*float64(len(p.members)) {
		all := make([]*backend.Backend, len(p.members))
		for i := range p.members {
			all[i] = p.members[i].b
		}
		s.available = all
		s.panicking = true
	}
	if len(s.available) > 0 {
		s.picker = p.bal.Build(s.available)
	}
	p.snap.Store(s)
	p.started = true
	if !nextProbe.IsZero() {
		d := nextProbe.Sub(now) + time.Millisecond
		if p.timer == nil {
			p.timer = time.AfterFunc(d, p.rebuild)
		} else {
			p.timer.Reset(d)
		}
	}
}

// close stops the pool's timer; the config it belongs to is gone.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
}

// pick chooses a backend for r that is not in tried, or returns nil when
// there is none. On a first try (tried empty) it is one strategy pick.
func (p *pool) pick(r *http.Request, tried []*backend.Backend) *backend.Backend {
	s := p.snap.Load()
	if s.picker == nil {
		return nil
	}
	// The strategy may return a backend already tried; ask it again a few
	// times (rotating strategies move on), then fall back to the first
	// untried backend in order.
	for range len(s.available) {
		b := s.picker.Pick(r)
		if b == nil {
			return nil
		}
		if !contains(tried, b) {
			return b
		}
	}
	return p.untried(s, tried)
}

// hasUntried reports whether a retry would find another backend.
func (p *pool) hasUntried(tried []*backend.Backend) bool {
	return p.untried(p.snap.Load(), tried) != nil
}

func (p *pool) untried(s *snapshot, tried []*backend.Backend) *backend.Backend {
	for _, b := range s.available {
		if b.Weight > 0 && !contains(tried, b) {
			return b
		}
	}
	return nil
}

func contains(bs []*backend.Backend, b *backend.Backend) bool {
	for _, x := range bs {
		if x == b {
			return true
		}
	}
	return false
}
