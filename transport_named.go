package smartproxy

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
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
// its name until they are drained. The last member to let go of a name
// closes its transport's idle connections, and those of its requests in
// flight once they are done (namedTransport.dropped), so names DNS stops
// returning keep no connections; the set is as large as the names of the
// members in the route's set.
type namedTransports struct {
	// build makes the transport for a server name.
	build func(serverName string) (http.RoundTripper, error)

	mu sync.Mutex
	m  map[string]*namedTransport
}

// namedTransport is one server name's transport. It is what the name's
// members send through (member.transport).
type namedTransport struct {
	t    http.RoundTripper
	refs int // guarded by namedTransports.mu
	// dropped is set when the last member let go. Only requests that
	// picked a member of the name just before it left still come, and
	// each one's connection is closed after it: net/http's
	// CloseIdleConnections closes what is idle then, but the next request
	// turns pooling on again, and its connection would stay open, unused.
	dropped atomic.Bool
}

// RoundTrip sends req through the name's transport.
func (nt *namedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := nt.t.RoundTrip(req)
	if !nt.dropped.Load() {
		return resp, err
	}
	if err != nil || resp.StatusCode == http.StatusSwitchingProtocols {
		closeIdle(nt.t) // an upgraded connection is the tunnel's, never pooled
		return resp, err
	}
	resp.Body = &closeIdleBody{ReadCloser: resp.Body, t: nt.t}
	return resp, nil
}

// closeIdleBody is the body of an answer through a dropped name's
// transport: once it is closed (its connection pooled again or closed by
// net/http), the transport's idle connections are closed.
type closeIdleBody struct {
	io.ReadCloser
	t http.RoundTripper
}

func (b *closeIdleBody) Close() error {
	err := b.ReadCloser.Close()
	closeIdle(b.t)
	return err
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
	return nt, func() { once.Do(func() { n.release(serverName, nt) }) }, nil
}

// release lets go of one hold on nt, serverName's transport.
func (n *namedTransports) release(serverName string, nt *namedTransport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nt.refs--; nt.refs > 0 {
		return
	}
	delete(n.m, serverName)
	nt.dropped.Store(true)
	closeIdle(nt.t) // requests still in flight finish
}
