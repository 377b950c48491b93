package smartproxy

import (
	"net"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/breaker"
	"github.com/caddy-smartproxy/smartproxy/discovery"
	"github.com/caddy-smartproxy/smartproxy/health"
)

// A route with DNS discovery has members that come and go: its configured
// backends, then one member per backend of the discovery watcher's last
// good answer. On every new answer the route builds the new member set and
// the pool publishes a snapshot over it (picks stay lock-free):
//
//   - a backend that stays keeps its *member, so its slow start, in-flight
//     count and latency carry on; its health record, breaker, totals and
//     tunnels are shared state held by route and backend name, so they
//     also survive reloads (and a backend that leaves and comes back);
//   - SRV targets of a priority after the best one are backups (pool.go);
//   - a backend that appears gets its shared state (a new health record
//     starts in the health check's initial_state) and joins the health
//     checker, which probes it before use when that state is unhealthy;
//   - a backend whose SRV weight, priority or name changed gets a new
//     member over the same shared state, and the old member is let go at
//     once: a request that picked it just before keeps its pointers,
//     which lead to the state the new member holds, so its answer, its
//     breaker, cap and health reports land where the new member's do;
//   - a backend that disappears is drained: it leaves the snapshot (no
//     new requests) and the checker, while requests and tunnels in flight
//     finish with it. Its hold on the shared state is let go once nothing
//     is in flight at its address (checked on every change, and by a timer
//     while some are draining, so it goes even when no change follows),
//     when its address comes back (the new member holds the same state),
//     or with the config.
//
// A failed or empty lookup changes nothing: the watcher keeps the last
// good set, and the failure is logged here and shown in the status.

// membership is the changing part of one route's member set.
type membership struct {
	h       *Handler
	rt      *route
	watcher *pooledWatcher
	ms      memberSettings
	scheme  string           // every member's
	named   *namedTransports // https without tls.server_name: one transport per name; else nil

	// backends is the answer followed: the watcher's Backends (a test
	// feeds its own sets).
	backends func() []discovery.Backend
	// sweepEvery is the time between two sweeps while some members drain
	// (drainSweepEvery).
	sweepEvery time.Duration

	mu       sync.Mutex
	closed   bool
	static   []*member               // the configured backends, first in every set
	found    map[string]*foundMember // discovered, by backend name
	draining []*foundMember          // removed, maybe with requests in flight
	timer    *time.Timer             // the next sweep while draining is not empty; nil: none armed
	sweeps   sync.WaitGroup          // timer callbacks armed and not yet returned: close waits for them
	unsub    func()                  // from the watcher
}

// drainSweepEvery is how often a route checks whether its removed members
// still have requests in flight when no DNS change comes to check it.
const drainSweepEvery = time.Second

// foundMember is a discovered member with what it holds.
type foundMember struct {
	m *member
	// serverName is the name it was found under (discovery.Backend.Host):
	// its TLS server name and its health check's.
	serverName string
	holds      holds  // its shared state, let go when it is drained
	unsub      func() // its breaker subscription; nil: none
	// dropTransport lets go of its name's transport (transport_named.go)
	// as it is drained, once; nil: it has none.
	dropTransport func()
}

// startDiscovery makes rt's membership follow w, starting from w's current
// answer.
func (h *Handler) startDiscovery(rt *route, w *pooledWatcher, ms memberSettings, scheme string, named *namedTransports) {
	d := &membership{h: h, rt: rt, watcher: w, ms: ms, scheme: scheme, named: named,
		backends: w.Backends, sweepEvery: drainSweepEvery,
		static: rt.pool.snap.Load().members, found: map[string]*foundMember{}}
	rt.members = d
	// Subscribe first, then apply the current answer: an answer that
	// arrives in between is applied by one call or the other, and each
	// call applies the watcher's latest.
	d.unsub = w.subs.subscribe(&watchSub{changed: d.update, failed: d.failed})
	d.update()
}

// update applies the watcher's current answer.
func (d *membership) update() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	set := d.backends()
	list := slices.Clone(d.static)
	taken := make(map[string]bool, len(list)+len(set))
	for _, m := range list {
		taken[m.b.Name] = true // a configured backend wins over the same one discovered
	}
	next := make(map[string]*foundMember, len(set))
	var added []*foundMember
	// SRV targets of a priority after the best are backups (RFC 2782:
	// they are for when the preferred ones cannot be reached).
	best := 0
	for i, fb := range set {
		if i == 0 || fb.Priority < best {
			best = fb.Priority
		}
	}
	for _, fb := range set {
		b, err := backend.New(fb.URL, fb.Weight)
		if err != nil || b.URL.Scheme != d.scheme || taken[b.Name] {
			continue // the discovery package makes only valid URLs of one scheme
		}
		if fb.Host != "" {
			b.HostName = net.JoinHostPort(fb.Host, b.URL.Port())
		}
		taken[b.Name] = true
		backup := fb.Priority > best
		fm := d.found[b.Name]
		if fm == nil || fm.m.configWeight != b.Weight() || fm.m.backup != backup || fm.serverName != fb.Host {
			// New, or its SRV weight, priority or name changed (what the
			// config gives a member is fixed): a new member over the same
			// state.
			if fm, err = d.newMember(b, backup, fb.Host); err != nil {
				d.h.logger.Error("adding a discovered backend", zap.String("route", d.rt.name),
					zap.String("backend", b.Name), zap.Error(err))
				continue
			}
			added = append(added, fm)
		}
		next[b.Name] = fm
		list = append(list, fm.m)
	}
	var removed []string
	for name, fm := range d.found {
		if next[name] != fm {
			d.drain(fm)
			if next[name] == nil {
				removed = append(removed, name)
			}
		}
	}
	d.found = next
	for _, fm := range added {
		d.join(fm)
	}
	d.rt.pool.setMembers(list)
	d.sweep()
	if len(added) > 0 || len(removed) > 0 {
		d.h.logger.Info("discovered backends changed", zap.String("route", d.rt.name),
			zap.Int("backends", len(list)), zap.Strings("added", foundNames(added)), zap.Strings("removed", removed))
	}
}

// newMember makes the member of a discovered backend, with its own holds.
func (d *membership) newMember(b *backend.Backend, backup bool, serverName string) (*foundMember, error) {
	fm := &foundMember{serverName: serverName}
	m, pb, err := d.h.buildMember(&fm.holds, d.rt.name, b, backup, d.ms)
	if err != nil {
		fm.holds.releaseAll()
		return nil, err
	}
	fm.m = m
	if err := d.rt.caps.attach(&fm.holds, d.rt.name, m, d.ms.maxRequests); err != nil {
		fm.holds.releaseAll()
		return nil, err
	}
	if d.named != nil && serverName != "" {
		// Its connections are made and verified for its name, and pooled
		// apart from another name's at the same address.
		t, release, err := d.named.acquire(serverName)
		if err != nil {
			fm.holds.releaseAll()
			return nil, err
		}
		fm.holds.onRelease(release) // at the latest with the config
		fm.dropTransport, m.transport = release, t
	}
	if pb != nil {
		rt, h, name := d.rt, d.h, b.Name
		fm.unsub = pb.subscribe(func(from, to breaker.State, reason string) {
			h.breakerChanged(rt, name, from, to, reason)
		})
	}
	return fm, nil
}

// join adds fm to the route's health checker.
func (d *membership) join(fm *foundMember) {
	c := d.rt.faults.checker
	if c == nil {
		return
	}
	host := "" // the URL's
	if fm.m.b.HostName != "" {
		host = backendHost(fm.m.b) // the name it was found under, as requests get it
	}
	err := c.Add(health.Target{Name: fm.m.b.Name, URL: probeURL(fm.m.b), Record: fm.m.health, ServerName: fm.serverName,
		Host: host})
	if err != nil {
		d.h.logger.Error("health checking a discovered backend", zap.String("route", d.rt.name),
			zap.String("backend", fm.m.b.Name), zap.Error(err))
	}
}

// drain takes fm out of health checking and its breaker's observers and
// keeps it for sweep.
func (d *membership) drain(fm *foundMember) {
	if c := d.rt.faults.checker; c != nil {
		c.Remove(fm.m.b.Name)
	}
	if fm.unsub != nil {
		fm.unsub()
		fm.unsub = nil
	}
	if fm.dropTransport != nil {
		// Now, not when it is swept: requests in flight finish on their
		// connections, which then close, and one that picked fm just
		// before still gets a connection for fm's name, and a removed
		// member's idle connections do not wait for its sweep.
		fm.dropTransport()
	}
	d.draining = append(d.draining, fm)
}

// sweep lets go of the drained members nothing needs any more: one whose
// backend a current member has (replaced, or back: that member holds the
// same shared state, keyed by route and backend name, so the references
// fm lets go of are not the last and what its requests in flight touch
// stays alive and current), and one with nothing in flight at its address
// (an upgraded connection counts until it closes). The in-flight count is
// the address's, shared by every member at it, so it decides only for a
// removed member, whose address no other member of the route has. While
// some are left, a timer sweeps again.
func (d *membership) sweep() {
	d.draining = slices.DeleteFunc(d.draining, func(fm *foundMember) bool {
		if d.found[fm.m.b.Name] == nil && fm.m.b.InFlight() > 0 {
			return false
		}
		fm.holds.releaseAll()
		return true
	})
	if len(d.draining) > 0 && d.timer == nil {
		d.sweeps.Add(1)
		d.timer = time.AfterFunc(d.sweepEvery, d.fired)
	}
}

// timedSweep is the sweep of the timer: the requests that keep a removed
// member end without telling the membership.
func (d *membership) timedSweep() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.timer = nil
	if !d.closed {
		d.sweep()
	}
}

// fired is the timer's callback: a timed sweep close waits for.
func (d *membership) fired() {
	defer d.sweeps.Done()
	d.timedSweep()
}

// failed logs a failed lookup; the last good set stays.
func (d *membership) failed(err error) {
	d.h.logger.Warn("dns discovery lookup failed; keeping the last good backends",
		zap.String("route", d.rt.name), zap.Int("backends", len(d.watcher.Backends())), zap.Error(err))
}

// close stops following the watcher and lets go of every discovered
// member's shared state; the config is gone. It returns once no sweep
// timer's callback runs or can run: a timer that fired just before finds
// closed set and returns, and close waits for that.
func (d *membership) close() {
	defer d.sweeps.Wait() // after the unlock below: the callback takes d.mu
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	d.unsub()
	if d.timer != nil {
		if d.timer.Stop() {
			d.sweeps.Done() // it will never run
		}
		d.timer = nil
	}
	for _, fm := range d.found {
		if fm.unsub != nil {
			fm.unsub()
		}
		fm.holds.releaseAll()
	}
	for _, fm := range d.draining {
		fm.holds.releaseAll()
	}
	d.found, d.draining = nil, nil
}

func foundNames(fms []*foundMember) []string {
	out := make([]string, len(fms))
	for i, fm := range fms {
		out[i] = fm.m.b.Name
	}
	return out
}
