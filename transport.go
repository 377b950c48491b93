package smartproxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/h1"
)

// The transport seam. The proxy core speaks to backends only through an
// http.RoundTripper: plain-HTTP/1.1 backends get the lean h1 transport,
// https and h2c ones Caddy's HTTPTransport, and nothing else in the proxy
// knows which.

// Transport tuning. Caddy's transport keeps 32 idle connections per backend
// by default; under more concurrency than that it dials and closes
// connections by the thousand per second (measured: bench/run.sh, 64
// connections), so the idle pool is sized well above expected concurrency.
const (
	maxIdleConnsPerHost = 1024
	// spinWait is how long a request to a plain-HTTP backend may poll for
	// the answer before it blocks, while the transport serves one request
	// at a time and where polling measures faster (h1.Config.SpinWait):
	// about one fast loopback or same-rack exchange. At one client
	// connection it took 20-35 µs off the median on the bench machine;
	// with any concurrency it is off.
	spinWait = 100 * time.Microsecond
)

// transportKey identifies one provisioned transport: backends that share the
// same timeouts and protocol share connections.
type transportKey struct {
	timeouts config.Timeouts // with defaults applied (Section.EffectiveTimeouts)
	scheme   string          // of the backends' configured URLs: http, https or h2c
	tls      string          // the https backends' TLS settings (backendTLSKey)
}

// transports provisions transports on demand during Provision and cleans
// all of them up with the handler. Plain-HTTP backends get the lean h1
// transport, which runs each exchange in the request's own goroutine on
// pooled keep-alive connections; https and h2c backends get Caddy's
// HTTPTransport (TLS, HTTP/2), https ones dialed by dialTLS.
type transports struct {
	ctx caddy.Context
	m   map[transportKey]http.RoundTripper
}

// get returns the transport for backends with timeouts tm, scheme and TLS
// settings bt, made on first use.
func (ts *transports) get(tm config.Timeouts, scheme string, bt *config.BackendTLS) (http.RoundTripper, error) {
	if scheme != "https" {
		bt = nil
	}
	k := transportKey{tm, scheme, backendTLSKey(bt)}
	if t, ok := ts.m[k]; ok {
		return t, nil
	}
	if bt != nil && bt.InsecureSkipVerify {
		ts.ctx.Logger().Warn("tls.insecure_skip_verify is on: backend certificates are not verified, so anyone on the path can read and change this traffic")
	}
	t, err := ts.build(tm, scheme, bt, "")
	if err != nil {
		return nil, err
	}
	if ts.m == nil {
		ts.m = make(map[transportKey]http.RoundTripper)
	}
	ts.m[k] = t
	return t, nil
}

// build makes a transport for backends with timeouts tm, scheme and TLS
// settings bt, of its own: get caches what it makes, a route's discovered
// https backends get one per server name (transport_named.go). serverName,
// https only, is the TLS server name its connections are made and verified
// for unless bt names one (it wins); "": the dialled address's host.
func (ts *transports) build(tm config.Timeouts, scheme string, bt *config.BackendTLS, serverName string) (http.RoundTripper, error) {
	dial, header := time.Duration(tm.Dial), time.Duration(tm.ResponseHeader)
	read, write := time.Duration(tm.Read), time.Duration(tm.Write)
	if scheme == "http" {
		var dialer func(context.Context, string, string) (net.Conn, error)
		if read > 0 || write > 0 {
			d := &net.Dialer{KeepAlive: 30 * time.Second}
			dialer = withRWTimeouts(d.DialContext, read, write)
		}
		return h1.New(h1.Config{
			DialTimeout:           dial,
			ResponseHeaderTimeout: header,
			IdleTimeout:           time.Duration(tm.IdleConnection),
			MaxIdlePerHost:        maxIdleConnsPerHost,
			SpinWait:              spinWait,
			DialContext:           dialer,
		}), nil
	}
	off := false
	t := &reverseproxy.HTTPTransport{
		// The proxy must pass bodies through untouched: with compression
		// on, Go's transport would ask for gzip and silently decode it.
		Compression:           &off,
		DialTimeout:           caddy.Duration(dial),
		ResponseHeaderTimeout: caddy.Duration(header),
		ReadTimeout:           tm.Read,
		WriteTimeout:          tm.Write,
		KeepAlive: &reverseproxy.KeepAlive{
			MaxIdleConnsPerHost: maxIdleConnsPerHost,
			IdleConnTimeout:     tm.IdleConnection,
		},
	}
	switch scheme {
	case "h2c":
		t.Versions = []string{"h2c", "2"}
	case "https":
		// Caddy builds the TLS client config (HTTP/2 by ALPN); dialTLS
		// (below) dials with it. The handshake is part of the dial and
		// shares its bound: without one, a backend that accepts the
		// connection and never answers the handshake held the request
		// (and its goroutines and socket) past the route's timeout, and
		// the breaker never saw a failure.
		t.TLS = &reverseproxy.TLSConfig{HandshakeTimeout: caddy.Duration(dial)}
	}
	ours, err := clientTLS(bt)
	if err != nil {
		return nil, err
	}
	if err := t.Provision(ts.ctx); err != nil {
		return nil, fmt.Errorf("provisioning transport: %v", err)
	}
	if scheme == "https" {
		if t.Transport.TLSClientConfig == nil {
			t.Transport.TLSClientConfig = new(tls.Config)
		}
		mergeTLS(t.Transport.TLSClientConfig, ours)
		t.Transport.DialTLSContext = dialTLS(t.Transport.TLSClientConfig, serverName, dial, read, write)
	}
	return t, nil
}

// cleanup closes every transport's idle connections; requests still in
// flight on the old config finish.
func (ts *transports) cleanup() {
	for _, t := range ts.m {
		closeIdle(t)
	}
}

// closeIdle closes t's idle connections (all of them once nothing is in
// flight); t stays usable.
func closeIdle(t http.RoundTripper) {
	switch t := t.(type) {
	case *h1.Transport:
		_ = t.Close()
	case *reverseproxy.HTTPTransport:
		_ = t.Cleanup()
	}
}

// isH1 reports whether t is the lean HTTP/1.1 transport.
func isH1(t http.RoundTripper) bool {
	_, ok := t.(*h1.Transport)
	return ok
}

// dialTLS dials an https backend: TCP and the TLS handshake together
// within the dial timeout. The server name is base's (tls.server_name),
// else serverName (the name a discovered backend was found under), else
// the address's host. Connections are pooled by address, so a transport
// dials for one server name only: one verified for a name is never reused
// for another (transport_named.go). A connection that negotiated HTTP/2 is pooled
// as net/http pools it (its framing cannot hide one response in another);
// one that speaks HTTP/1.1 is a framedConn.
func dialTLS(base *tls.Config, serverName string, dial, read, write time.Duration) func(context.Context, string, string) (net.Conn, error) {
	if base == nil {
		base = new(tls.Config)
	} else {
		base = base.Clone()
	}
	if base.ClientSessionCache == nil {
		base.ClientSessionCache = tls.NewLRUClientSessionCache(0) // cheaper handshakes for new connections
	}
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, dial)
		defer cancel()
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, reverseproxy.NewDialError(err)
		}
		raw = wrapRWTimeouts(raw, read, write)
		cfg := base.Clone()
		if cfg.ServerName == "" {
			if cfg.ServerName = serverName; cfg.ServerName == "" {
				cfg.ServerName, _, _ = net.SplitHostPort(addr)
			}
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			if certProblem(err) {
				// Reached, and refused over a certificate (backendtls.go).
				return nil, &tlsCertError{addr: addr, err: err}
			}
			// Nothing of the request was sent.
			return nil, reverseproxy.NewDialError(fmt.Errorf("tls handshake with %s: %w", addr, err))
		}
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			return tc, nil // net/http's HTTP/2 needs the *tls.Conn itself
		}
		return newFramedConn(tc), nil
	}
}
