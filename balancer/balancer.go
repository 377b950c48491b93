// Package balancer holds the load-balancing strategies (the Strategy
// pattern). Each algorithm is one type implementing Balancer, chosen by name
// through New.
//
// A Balancer never sees the whole pool: whenever the set of available
// backends changes (a health transition, a breaker trip, a reload), the pool
// calls Build with the new set and publishes the returned Picker as part of an
// immutable snapshot. Pick then runs on the hot path without locks or
// allocation; state that must outlive one snapshot (a round-robin counter, so
// rotation stays strict across availability changes) lives in the Balancer.
package balancer

import (
	"net/http"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// Balancer is a load-balancing strategy.
type Balancer interface {
	// Build returns a Picker over available, which is non-empty, ordered as
	// configured, and never modified afterwards. Build may precompute (for
	// example a weighted schedule or a hash ring); it is called rarely.
	Build(available []*backend.Backend) Picker
}

// Picker chooses a backend for one request from the set it was built over.
// Pick is safe for concurrent use, must not allocate, and returns nil only
// when no backend can take the request (for example all weights are 0).
type Picker interface {
	Pick(r *http.Request) *backend.Backend
}
