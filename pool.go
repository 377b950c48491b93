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
// recovery, a new DNS answer), which the pool learns as an observer.
//
// The members themselves may change while the pool serves (DNS discovery,
// membership.go): each snapshot carries the member set it was built from,
// and a picked backend leads back to its member through backend.Owner, so a
// request that picked a member just removed finishes with it.
type pool struct {
	bal balancer.Balancer
	// isAvailable is an extra availability filter; nil means none. Tests
	// use it to take backends out without a health checker.
	isAvailable func(*backend.Backend) bool
	// panicThreshold: when fewer than this fraction of the backends are
	// available, balance over all of them (Envoy's panic mode) rather than
	// overload the few. 0 = off.
	panicThreshold float64
	sticky         *stickiness // nil: no sticky cookie (sticky.go)

	mu      sync.Mutex // serialises rebuilds and membership changes, never taken by a pick
	members []*member  // the current set (guarded by mu; readers use snap.members)
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
	// backup: the member takes requests only while no primary (non-backup)
	// member of its pool is available.
	backup bool
	// tunnels are the backend's live upgraded connections, shared by every
	// config that keeps the backend (tunnel.go); nil in unit tests.
	tunnels *tunnelSet
	gate    *capGate     // nil: no in-flight cap (caps.go)
	sticky  *stickyEntry // its cookie; nil: the pool is not sticky (sticky.go)
	// available is the backend's availability in the last snapshot
	// (guarded by pool.mu); a change to true starts its slow start.
	available bool
	// admin is the backend's state set through the admin API, shared
	// across reloads (adminstate.go); nil: always ready. configWeight is
	// the weight the config gave, which an admin weight may replace.
	admin        *backendAdmin
	configWeight int
	// transport is a discovered https member's own, made for the name it
	// was found under (transport_named.go); nil: the backend's own or the
	// route's (route.transportTo).
	transport http.RoundTripper
}

// snapshot is the immutable set of available backends and the picker built
// over it.
type snapshot struct {
	// members is every member of the pool when the snapshot was built,
	// in the pool's order (configured backends, then discovered ones).
	members []*member
	// inSet marks, by index in members, those in available.
	inSet     []bool
	available []*backend.Backend
	picker    balancer.Picker // nil when available is empty
	panicking bool            // available is every backend of its tier, by panic mode
	backups   bool            // no primary is available: available are backups
	// capped: some member has an in-flight cap, so a pick takes the
	// slot of the backend it returns (queue.go).
	capped bool
	sticky *stickyTable // nil: the pool is not sticky (sticky.go)
}

func newPool(members []*member, bal balancer.Balancer, panicThreshold float64) *pool {
	p := &pool{bal: bal, panicThreshold: panicThreshold}
	p.setMembers(members)
	return p
}

// setMembers makes ms the pool's members and publishes a snapshot over
// them. A member that stays is passed again as the same *member, so it
// keeps its availability (and its slow start) across the change.
func (p *pool) setMembers(ms []*member) {
	for _, m := range ms {
		if m.b.Owner != any(m) { // a member that stays is being read by picks
			m.b.Owner = m
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.members = ms
	p.rebuildLocked()
}

// member returns the pool member of a backend the pool's picker returned.
func (p *pool) member(b *backend.Backend) *member { return b.Owner.(*member) }

// availableNow reports whether m may take new requests: not drained or in
// maintenance, healthy, and its breaker would admit one.
func (p *pool) availableNow(m *member, now time.Time) bool {
	if m.adminState() != adminReady {
		return false
	}
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
	p.rebuildLocked()
}

// tier is the members of one kind (primaries or backups), by index.
type tier struct{ all, avail []int }

func (p *pool) rebuildLocked() {
	if p.closed {
		return
	}
	now := time.Now()
	var prim, back tier
	var nextProbe time.Time
	for i, m := range p.members {
		m.syncAdminWeight() // a weight set through the admin API
		ok := p.availableNow(m, now)
		if ok && !m.available && p.started {
			m.b.MarkAvailable(now) // slow start from here
		}
		m.available = ok
		if m.adminState() != adminReady {
			continue // out of rotation: not in its tier, not even for panic mode
		}
		t := &prim
		if m.backup {
			t = &back
		}
		t.all = append(t.all, i)
		if ok {
			t.avail = append(t.avail, i)
		} else if m.breaker != nil {
			if nt := m.breaker.NextProbe(); !nt.IsZero() && (nextProbe.IsZero() || nt.Before(nextProbe)) {
				nextProbe = nt
			}
		}
	}
	s := &snapshot{members: p.members, inSet: make([]bool, len(p.members))}
	// Backups serve only while no primary is available.
	use := prim
	if len(prim.avail) == 0 && len(back.avail) > 0 {
		use, s.backups = back, true
	}
	set := use.avail
	if p.panicThreshold > 0 && len(set) < len(use.all) &&
		float64(len(set)) < p.panicThreshold*float64(len(use.all)) {
		set, s.panicking = use.all, true
	}
	s.available = make([]*backend.Backend, len(set))
	for j, i := range set {
		s.available[j] = p.members[i].b
		s.inSet[i] = true
		s.capped = s.capped || p.members[i].gate != nil
	}
	if len(s.available) > 0 {
		s.picker = p.bal.Build(s.available)
	}
	if p.sticky != nil {
		s.sticky = p.sticky.table(p.members, s.inSet)
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
// there is none. On a first try (tried empty) it is one strategy pick. In a
// capped pool it skips backends at their cap and takes the slot of the one
// it returns.
func (p *pool) pick(r *http.Request, tried []*backend.Backend) *backend.Backend {
	s := p.snap.Load()
	if s.picker == nil {
		return nil
	}
	if s.sticky != nil && len(tried) == 0 {
		// The backend the client's cookie names, unless it was drained
		// since the snapshot was built or is at its cap: then the request
		// is balanced (and gets a new cookie).
		if b := s.sticky.lookup(r.Header); b != nil && p.member(b).adminState() == adminReady && (!s.capped || p.take(b)) {
			return b
		}
	}
	// The strategy may return a backend already tried; ask it again a few
	// times (rotating strategies move on), then fall back to the first
	// untried backend in order.
	for range len(s.available) {
		b := s.picker.Pick(r)
		if b == nil {
			return nil
		}
		if !contains(tried, b) && (!s.capped || p.take(b)) {
			return b
		}
	}
	return p.untried(s, tried, s.capped)
}

// hasUntried reports whether a retry would find another backend.
func (p *pool) hasUntried(tried []*backend.Backend) bool {
	return p.untried(p.snap.Load(), tried, false) != nil
}

// untried is the first backend of s, in order, that has weight and is not
// in tried; with take, also one whose capped slot it could take (the slot
// is then held for the request).
func (p *pool) untried(s *snapshot, tried []*backend.Backend, take bool) *backend.Backend {
	for _, b := range s.available {
		if b.Weight() > 0 && !contains(tried, b) && (!take || p.take(b)) {
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
