package smartproxy

import (
	"context"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/discovery"
)

// DNS discovery: a route's `discovery` names a DNS name whose answers are
// backends of the route beside its configured ones. One watcher (the
// discovery package's goroutine that re-resolves the name) serves every
// config that has the same route and the same discovery settings: it is
// held across reloads like the other shared state (pools.go), so a reload
// neither repeats the lookup nor forgets the last good answer, and its
// goroutine stops when the last config holding it lets go. The configs'
// routes subscribe to it; each turns an answer into its member set
// (membership.go).
var watchers = newShared[*pooledWatcher]("discovery", func(w *pooledWatcher) error {
	w.Stop()
	return nil
})

// firstLookupTimeouts bounds the lookup a new watcher makes before its
// route serves, in units of the discovery timeout (an SRV answer takes a
// lookup per target).
const firstLookupTimeouts = 3

// pooledWatcher is a discovery watcher with the subscribers of the configs
// that use it: its callbacks are fixed when it is made, but the configs
// come and go with reloads.
type pooledWatcher struct {
	*discovery.Watcher
	subs fanout[watchSub]
}

// watchSub is one route's subscription: changed is told a new set is in,
// failed of a lookup that failed (the set is kept).
type watchSub struct {
	changed func()
	failed  func(error)
}

// acquireWatcher returns the watcher of route id's DNS discovery, held in
// hs: made, looked up once (so the route starts with backends) and started
// when no config holds it yet.
func acquireWatcher(hs *holds, id string, d *config.DNSDiscovery) (*pooledWatcher, error) {
	return watchers.acquire(hs, stateKey{route: id, settings: d}, func() (*pooledWatcher, error) {
		pw := new(pooledWatcher)
		w, err := discovery.New(d.Settings(),
			discovery.OnChange(func([]discovery.Backend) { pw.subs.each(func(s *watchSub) { s.changed() }) }),
			discovery.OnError(func(err error) { pw.subs.each(func(s *watchSub) { s.failed(err) }) }))
		if err != nil {
			return nil, err
		}
		pw.Watcher = w
		ctx, cancel := context.WithTimeout(context.Background(), firstLookupTimeouts*w.Config().Timeout)
		_ = w.Refresh(ctx) // a failure is in the status; the watcher retries
		cancel()
		// Not the config's context: the watcher outlives the config that
		// made it, and stops when the last holder lets go (watchers).
		w.Start(context.Background())
		return pw, nil
	})
}

// DiscoveryStatus is a route's DNS discovery, for the status API.
type DiscoveryStatus struct {
	Name string `json:"name"` // fully qualified
	Type string `json:"type"`
	// Backends is the number of backends of the last good answer.
	Backends int `json:"backends"`
	// Lookups and Failures count every lookup since the watcher started
	// (it is kept across reloads) and those that failed.
	Lookups  uint64 `json:"lookups"`
	Failures uint64 `json:"failures"`
	// ConsecutiveFailures are the failed lookups since the last good one.
	ConsecutiveFailures int        `json:"consecutive_failures"`
	LastLookup          *time.Time `json:"last_lookup,omitempty"`
	LastSuccess         *time.Time `json:"last_success,omitempty"`
	// LastError is the last failure's message while the lookups fail.
	LastError  string     `json:"last_error,omitempty"`
	NextLookup *time.Time `json:"next_lookup,omitempty"`
}

func discoveryStatus(w *pooledWatcher) *DiscoveryStatus {
	if w == nil {
		return nil
	}
	st := w.Status()
	return &DiscoveryStatus{
		Name: st.Name, Type: st.Type, Backends: len(st.Backends),
		Lookups: st.Lookups, Failures: st.Failures, ConsecutiveFailures: st.ConsecutiveFailures,
		LastLookup: timePtr(st.LastLookup), LastSuccess: timePtr(st.LastSuccess),
		LastError: st.LastError, NextLookup: timePtr(st.NextLookup),
	}
}
