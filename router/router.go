// Package router picks the route for a request by host and longest path
// prefix.
//
// A Router is built once from a list of routes by New and never changes
// afterwards, so any number of goroutines may call Lookup at once without a
// lock; a config change builds a new Router (publish it through an
// atomic.Pointer). Lookup allocates nothing.
//
// # Hosts
//
// A route's Host is one of:
//
//   - an exact host, such as "api.example.com", "10.0.0.1" or "[::1]";
//   - a wildcard, "*.example.com", where "*" stands for exactly one non-empty
//     label: it matches "a.example.com" but neither "example.com" nor
//     "a.b.example.com" (the same rule as Caddy's own host matcher);
//   - empty, which matches any host.
//
// Hosts compare ASCII case-insensitively (internationalized names must be
// given in their punycode form). The port of the request host is ignored
// ("example.com:8080" is "example.com", "[::1]:8080" is "::1"), so a route
// host must not carry one. One trailing dot is dropped on both sides, since
// "example.com." names the same host. IPv6 literals are compared in their
// canonical form (RFC 5952), so "[0:0::1]" matches a route for "[::1]"; a
// route host may be written with or without brackets but not with a zone.
// A request host longer than 253 bytes (the DNS limit) matches only the
// any-host routes.
//
// # Paths
//
// A route's Path is a prefix matched on whole segments, byte for byte and
// case-sensitively, against the request path as the caller passes it
// (r.URL.Path, which net/http has already percent-decoded; the router decodes
// and cleans nothing, so write route paths decoded): "/v1" matches "/v1" and
// "/v1/users" but not "/v1x". A trailing slash changes nothing, so "/v1/"
// matches exactly what "/v1" matches (the bare "/v1" too), and the two on one
// host are duplicates. "" and "/" match every path. A route path must start
// with "/" and must not hold an empty, "." or ".." segment, a control
// character, "?" or "#": such a route would match only unclean paths, or
// mistakes a query for part of the path, so it is taken as a config error.
//
// # Precedence
//
// Lookup tries the host groups from most to least specific: the routes for
// the exact host, then those for the wildcard that covers it, then the
// any-host routes. Within a group the longest matching path prefix wins; a
// group with no matching prefix falls through to the next one. So with the
// routes (api.example.com, /v1), (*.example.com, /) and ("", /health), a
// request for api.example.com/health gets the wildcard route, because the
// exact host has no prefix that matches /health.
//
// # Why this structure
//
// Host groups are found with a map (O(1)); the wildcard group is found by
// looking up the request host minus its first label, a substring, so nothing
// is built. Each group keeps its prefixes in one sorted slice, ordered
// byte-wise except that "/" sorts before every other byte. In that order every
// prefix that matches a path on segment boundaries is a segment-aligned
// prefix of the greatest entry not above the path, so one binary search
// (O(log n)) finds that entry and the answer lies on its chain of ancestors
// (the next shorter prefix of it that is in the table). The chain is walked
// with skew-binary jump pointers (Myers, 1983), O(log n) even when routes
// nest deeply (/a, /a/a, /a/a/a, ...). Compared with a radix tree this keeps
// a group to two flat slices — compact for 100,000 routes, cheap to build —
// and the binary search reads mostly a dense array of 8-byte keys, so it
// stays in cache where a tree would chase a pointer per level.
package router

import (
	"bytes"
	"errors"
	"fmt"
)

// Errors returned by New, wrapped with the offending value; test for them
// with errors.Is.
var (
	// ErrDuplicateRoute means two routes match exactly the same requests,
	// such as ("A.example.com", "/v1") and ("a.example.com", "/v1/").
	ErrDuplicateRoute = errors.New("duplicate route")
	// ErrInvalidHost means a route's Host cannot match any request host.
	ErrInvalidHost = errors.New("invalid route host")
	// ErrInvalidPath means a route's Path is not a usable path prefix.
	ErrInvalidPath = errors.New("invalid route path")
)

// Route is one entry of the routing table: requests whose host matches Host
// and whose path starts with Path (on segment boundaries) get Value.
type Route[T any] struct {
	// Host is an exact host, a "*.suffix" wildcard, or empty for any host.
	Host string
	// Path is the path prefix; empty means "/" (every path).
	Path string
	// Value is what Lookup returns for a match, typically the route's
	// handler or config.
	Value T
}

// Router maps a request's host and path to the Value of the best route. It is
// immutable and safe for concurrent use; the zero value and nil match
// nothing.
type Router[T any] struct {
	// Tables are held by value: one pointer fewer to chase per lookup.
	exact     map[string]table[T] // canonical host -> its routes
	wildcard  map[string]table[T] // suffix after "*." -> its routes
	everyHost table[T]            // routes with an empty Host; may be empty
}

// New checks routes and builds a Router over them. It fails on the first
// invalid host or path and on any two routes that match the same requests,
// naming the values and the routes' indexes. routes is not kept; an empty
// list gives a Router that matches nothing.
func New[T any](routes []Route[T]) (*Router[T], error) {
	type group struct {
		kind hostKind
		key  string
	}
	entries := make(map[group][]entry[T])
	var order []group // first appearance, so the error reported is deterministic
	for i, rt := range routes {
		key, kind, err := canonicalRouteHost(rt.Host)
		if err != nil {
			return nil, fmt.Errorf("%w (route %d)", err, i)
		}
		prefix, err := canonicalPath(rt.Path)
		if err != nil {
			return nil, fmt.Errorf("%w (route %d)", err, i)
		}
		g := group{kind, key}
		if _, seen := entries[g]; !seen {
			order = append(order, g)
		}
		entries[g] = append(entries[g], entry[T]{prefix: prefix, index: i, value: rt.Value})
	}

	r := &Router[T]{
		exact:    make(map[string]table[T]),
		wildcard: make(map[string]table[T]),
	}
	for _, g := range order {
		t, dup := newTable(entries[g])
		if dup != nil {
			a, b := routes[dup[0]], routes[dup[1]]
			return nil, fmt.Errorf("%w: route %d (host %q, path %q) matches the same requests as route %d (host %q, path %q)",
				ErrDuplicateRoute, dup[1], b.Host, b.Path, dup[0], a.Host, a.Path)
		}
		switch g.kind {
		case exactHost:
			r.exact[g.key] = t
		case wildcardHost:
			r.wildcard[g.key] = t
		default:
			r.everyHost = t
		}
	}
	return r, nil
}

// Lookup returns the Value of the route that best matches host (a request's
// Host, port allowed) and path (the raw request path), and whether any route
// matched. The package doc gives the precedence. It allocates nothing.
func (r *Router[T]) Lookup(host, path string) (v T, ok bool) {
	if r == nil {
		return v, false
	}
	if len(r.exact) > 0 || len(r.wildcard) > 0 {
		var buf [hostBufLen]byte
		h, ipv6, matchable := canonicalRequestHost(host, &buf)
		if matchable {
			// string(h) in a map index does not allocate.
			if t, found := r.exact[string(h)]; found {
				if v, ok = t.lookup(path); ok {
					return v, true
				}
			}
			if !ipv6 && len(r.wildcard) > 0 {
				if i := bytes.IndexByte(h, '.'); i > 0 {
					if t, found := r.wildcard[string(h[i+1:])]; found {
						if v, ok = t.lookup(path); ok {
							return v, true
						}
					}
				}
			}
		}
	}
	return r.everyHost.lookup(path)
}
