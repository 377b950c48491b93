package smartproxy

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// Shared state. What must outlive one config (health records, breakers,
// request totals, rate limiters, Redis stores, caches) lives in a
// package-level caddy.UsagePool per kind, so that a reload which keeps a
// backend or a setting keeps its state. Every kind is held the same way:
//
//   - a value is named by a stateKey (the route id, which carries the
//     server and site; the backend; the settings the value depends on),
//     turned into the pool key by one function, stateKey.String;
//   - shared.acquire loads or makes it and, in the same step, records the
//     reference in the config's holds, so Cleanup releases exactly what
//     Provision took, whatever failed in between;
//   - the last holder's release runs the kind's destroy (closing a Redis
//     client, deleting a backend's metric series); kinds with nothing to
//     free have none.

// shared is one kind of state kept across config reloads. The embedded
// pool is the kind's UsagePool.
type shared[T any] struct {
	*caddy.UsagePool
	kind    string
	destroy func(T) error // run when the last holder lets go; nil: nothing to free
}

func newShared[T any](kind string, destroy func(T) error) *shared[T] {
	return &shared[T]{UsagePool: caddy.NewUsagePool(), kind: kind, destroy: destroy}
}

// stateKey names one value of shared state.
type stateKey struct {
	// route is the route's id: server, site and route name (scope.go), so
	// two sites' routes of the same name never share state.
	route string
	// backend is the backend's name; "" for state of the whole route.
	backend string
	// settings are the settings the value was made from, compared as
	// their JSON: changed settings make a fresh value. nil: the value
	// survives any change of settings.
	settings any
}

// poolKey is k as a key of kind's pool: "kind|route|backend|settings".
func (k stateKey) poolKey(kind string) (string, error) {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte('|')
	b.WriteString(k.route)
	b.WriteByte('|')
	b.WriteString(k.backend)
	if k.settings != nil {
		sj, err := json.Marshal(k.settings)
		if err != nil {
			return "", fmt.Errorf("keying %s state: %v", kind, err)
		}
		b.WriteByte('|')
		b.Write(sj)
	}
	return b.String(), nil
}

// held is a value in a shared pool.
type held[T any] struct {
	v       T
	destroy func(T) error
}

// Destruct runs the kind's destroy: the last holder let go.
func (e held[T]) Destruct() error {
	if e.destroy == nil {
		return nil
	}
	return e.destroy(e.v)
}

// acquire returns the value named by k, made by mk when no config holds
// it yet, and records the reference in hs before it returns. A value mk
// failed to make is not held (the pool drops it), so there is nothing to
// release.
func (s *shared[T]) acquire(hs *holds, k stateKey, mk func() (T, error)) (T, error) {
	var zero T
	key, err := k.poolKey(s.kind)
	if err != nil {
		return zero, err
	}
	v, _, err := s.LoadOrNew(key, func() (caddy.Destructor, error) {
		x, err := mk()
		if err != nil {
			return nil, err
		}
		return held[T]{v: x, destroy: s.destroy}, nil
	})
	if err != nil {
		return zero, err
	}
	hs.refs = append(hs.refs, holdRef{s.UsagePool, key})
	return v.(held[T]).v, nil
}

// holds are the references one config holds in the shared pools, and
// what else must end with it.
type holds struct {
	refs  []holdRef
	after []func() // run by releaseAll, in order
}

type holdRef struct {
	pool *caddy.UsagePool
	key  string
}

// releaseAll lets go of every reference, once, then runs the onRelease
// functions.
func (hs *holds) releaseAll() {
	for _, r := range hs.refs {
		_, _ = r.pool.Delete(r.key)
	}
	hs.refs = nil
	for _, f := range hs.after {
		f()
	}
	hs.after = nil
}

// onRelease has releaseAll run f.
func (hs *holds) onRelease(f func()) { hs.after = append(hs.after, f) }
