package smartproxy

import (
	"net/http"
	"sync"
)

// A route's https backends found in DNS are dialled at an IP and port but
// verified for the name they were found under (the A/AAAA query's name or
// the SRV target), as Caddy's dynamic upstreams and HAProxy's
// server-template do, unless tls.server_name is configured (it wins).
// Go's transports pool connections by the address they dial, so one
// transport for all those backends would reuse a connection verified for
// one name under another once DNS moves an address to a new target name:
// requests for the new name over the old name's TLS session (and, at a
// backend that serves both names, its virtual host). So each server name
// gets a transport of its own, and a pooled connection is reused only for
// the same address and server name. The transport is chosen when the
// member is made (member.transport), never looked up per request; a route
// without discovery, or whose backends are plain HTTP, has no such set.

// namedTransports are one route's transports for discovered https
// backends, one per TLS server name, each held by the members found under
// its name (members being drained included: their requests in flight
// finish on their own connections). The last member to let go of a name
// closes its transport's idle connections, so names DNS stops returning
// keep nothing; the set is as large as the names of the members it holds.
type namedTransports struct {
	// build makes the transport for a server name.
	build func(serverName string) (http.RoundTripper, error)

	mu sync.Mutex
	m  map[string]*namedTransport
}

type namedTransport struct {
	t    http.RoundTripper
	refs int
}

// acquire returns the transport for serverName, made on first use, and the
// function that lets go of it (to be called once).
func (n *namedTransports) acquire(serverName string) (http.RoundTripper, func(), error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nt := n.m[serverName]
	if nt == nil {
		t, err := n.build(serverName)
		if err != nil {
			return nil, nil, err
		}
		if n.m == nil {
			n.m = make(map[string]*namedTransport)
		}
		nt = &namedTransport{t: t}
		n.m[serverName] = nt
	}
	nt.refs++
	var once sync.Once
	return nt.t, func() { once.Do(func() { n.release(serverName, nt) }) }, nil
}

// release lets go of one hold on nt, serverName's transport.
func (n *namedTransports) release(serverName string, nt *namedTransport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nt.refs--; nt.refs > 0 {
		return
	}
	delete(n.m, serverName)
	closeIdle(nt.t) // requests still in flight finish
}
