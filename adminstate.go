package smartproxy

import (
	"sync"
	"sync/atomic"
)

// Runtime backend state (issue 16, part 2). An operator takes a backend out
// of rotation or changes its weight through the admin API
// (POST /smartproxy/backends/state, adminapi.go) without a reload:
//
//   - drain: no new requests and no new sticky sessions; requests in flight
//     and upgraded tunnels finish;
//   - maint: no requests at all; requests in flight finish;
//   - ready: back in rotation, through slow start when it is configured
//     (the pool's rebuild marks a backend that becomes available);
//   - a weight replaces the configured one until a reload changes the
//     configured weight (the operator edited the config: it wins).
//
// The state of a backend in a route is shared state (pools.go), held by
// every config that has the backend, so it survives reloads while the
// backend stays in the config and is dropped when it leaves. A change
// rebuilds the snapshot of every live pool with a route of that id, and a
// rebuild reads each member's state and live weight (so members that join
// later, by discovery, are right too); a pick never reads the state, so it
// costs the request path nothing. Code that decides per request (sticky
// sessions) asks member.adminState, one atomic load.

// adminState is what the admin API says of a backend.
type adminState uint32

const (
	adminReady adminState = iota // in rotation (the default)
	adminDrain                   // no new requests nor sticky sessions; in-flight ones and tunnels finish
	adminMaint                   // no requests at all; in-flight ones finish
)

var adminStateNames = [...]string{adminReady: "ready", adminDrain: "drain", adminMaint: "maint"}

func (s adminState) String() string {
	if int(s) < len(adminStateNames) {
		return adminStateNames[s]
	}
	return "unknown"
}

// parseAdminState turns "ready", "drain" or "maint" into a state.
func parseAdminState(s string) (adminState, bool) {
	for i, n := range adminStateNames {
		if s == n {
			return adminState(i), true
		}
	}
	return 0, false
}

// adminStates holds each backend's admin state per route across reloads.
var adminStates = newShared[*backendAdmin]("admin", nil)

// adminGen counts admin state changes. A config that is provisioned while
// a change is made rebuilds its pools once it is live if the count moved
// (Handler.Provision), so no pool keeps a snapshot from before the change.
var adminGen atomic.Uint64

// backendAdmin is one backend's admin state in one route. Reads are atomic
// loads; changes are serialised by mu.
type backendAdmin struct {
	route, backend string // whose state it is
	state          atomic.Uint32
	weight         atomic.Pointer[weightOverride] // nil: the configured weight
	mu             sync.Mutex                     // serialises changes
	// fleet is the Redis that shares the state (adminfleet.go); nil:
	// this instance's own.
	fleet atomic.Pointer[fleetState]
}

// weightOverride is a weight set through the admin API and the configured
// weight it replaced: a config whose weight differs does not use it.
type weightOverride struct{ live, base int }

func newBackendAdmin(route, backendName string) func() (*backendAdmin, error) {
	return func() (*backendAdmin, error) { return &backendAdmin{route: route, backend: backendName}, nil }
}

func (a *backendAdmin) load() adminState { return adminState(a.state.Load()) }

// set changes the state and, unless weight is nil, the weight (base is
// the configured weight of the member it was set through). It reports
// whether anything changed; the caller rebuilds the pools (rebuildAdmin).
func (a *backendAdmin) set(s adminState, weight *int, base int) bool {
	a.mu.Lock()
	changed := a.load() != s
	a.state.Store(uint32(s))
	if weight != nil {
		cur := a.weight.Load()
		switch {
		case *weight == base && cur != nil:
			a.weight.Store(nil) // the configured weight again
			changed = true
		case *weight != base && (cur == nil || cur.live != *weight || cur.base != base):
			a.weight.Store(&weightOverride{live: *weight, base: base})
			changed = true
		}
	}
	a.mu.Unlock()
	if changed {
		adminGen.Add(1)
	}
	return changed
}

// weightFor is the weight a member configured with weight cfg has now.
func (a *backendAdmin) weightFor(cfg int) int {
	if o := a.weight.Load(); o != nil && o.base == cfg {
		return o.live
	}
	return cfg
}

// adminState is the member's admin state; ready for a member without one
// (tests build bare members). Sticky sessions ask it per request: a
// drained or maintained backend keeps no session and gets no new one.
func (m *member) adminState() adminState {
	if m.admin == nil {
		return adminReady
	}
	return m.admin.load()
}

// acquireAdmin gives m, a member of route id, its shared admin state,
// held in hs, and records its configured weight. With a fleet store the
// state follows it (adminfleet.go). A weight set against another
// configured weight is dropped: the edited config wins.
func acquireAdmin(hs *holds, m *member, id string, fleet *fleetState) error {
	a, err := adminStates.acquire(hs, stateKey{route: id, backend: m.b.Name}, newBackendAdmin(id, m.b.Name))
	if err != nil {
		return err
	}
	m.admin, m.configWeight = a, m.b.Weight()
	if fleet != nil {
		fleet.join(a)
	} else {
		a.fleet.Store(nil)
	}
	if o := a.weight.Load(); o != nil && o.base != m.configWeight {
		a.weight.CompareAndSwap(o, nil)
	}
	m.syncAdminWeight()
	return nil
}

// syncAdminWeight gives m's backend the weight its admin state says. The
// pool calls it for every member as it rebuilds (under its lock, so no
// Build sees a weight change halfway); the strategies that precompute
// shares see it in the snapshot being built.
func (m *member) syncAdminWeight() {
	if m.admin != nil {
		_ = m.b.SetWeight(m.admin.weightFor(m.configWeight)) // checked when it was set
	}
}

// rebuildAdmin rebuilds every live pool of the route called id (in every
// running config, old and new, while a reload overlaps them), so that an
// admin change is in each one's snapshot when the API answers.
func rebuildAdmin(id string) {
	liveHandlers.Range(func(_, v any) bool {
		for _, rt := range v.(liveHandler).h.routes {
			if rt.name == id {
				rt.pool.rebuild()
			}
		}
		return true
	})
}
