package smartproxy

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/balancer"
)

// pool ties a route's backends to its load-balancing strategy. Picks read
// one immutable snapshot through an atomic pointer and take no lock; the
// snapshot is rebuilt only when the set of available backends changes.
type pool struct {
	all []*backend.Backend
	bal balancer.Balancer
	// isAvailable reports whether a backend may take new requests (health,
	// breaker); nil means every backend is available.
	isAvailable func(*backend.Backend) bool
	// panicThreshold: when fewer than this fraction of the backends are
	// available, balance over all of them (Envoy's panic mode) rather than
	// overload the few. 0 = off.
	panicThreshold float64

	mu   sync.Mutex // serialises rebuilds, never taken by a pick
	snap atomic.Pointer[snapshot]
}

// snapshot is the immutable set of available backends and the picker built
// over it.
type snapshot struct {
	available []*backend.Backend
	picker    balancer.Picker // nil when available is empty
	panicking bool            // available is every backend, by panic mode
}

func newPool(all []*backend.Backend, bal balancer.Balancer, isAvailable func(*backend.Backend) bool, panicThreshold float64) *pool {
	p := &pool{all: all, bal: bal, isAvailable: isAvailable, panicThreshold: panicThreshold}
	p.rebuild()
	return p
}

// rebuild publishes a new snapshot of the available backends.
func (p *pool) rebuild() {
	p.mu.Lock()
	defer p.mu.Unlock()
	avail := make([]*backend.Backend, 0, len(p.all))
	for _, b := range p.all {
		if p.isAvailable == nil || p.isAvailable(b) {
			avail = append(avail, b)
		}
	}
	s := &snapshot{available: avail}
	if p.panicThreshold > 0 && len(avail) < len(p.all) &&
		float64(len(avail)) < p.panicThreshold*float64(len(p.all)) {
		s.available = append(avail[:0], p.all...)
		s.panicking = true
	}
	if len(s.available) > 0 {
		s.picker = p.bal.Build(s.available)
	}
	p.snap.Store(s)
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
