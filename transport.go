package smartproxy

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-smartproxy/smartproxy/h1"
)

// The transport seam. The proxy core speaks to backends only through an
// http.RoundTripper, so a leaner plain-HTTP/1.1 path can later replace
// Caddy's transport for some backends without touching the rest.

// Transport tuning. Caddy's transport keeps 32 idle connections per backend
// by default; under more concurrency than that it dials and closes
// connections by the thousand per second (measured: bench/run.sh, 64
// connections), so the idle pool is sized well above expected concurrency.
const (
	maxIdleConnsPerHost = 1024
	defaultDialTimeout  = 3 * time.Second
	// spinWait is how long a request to a plain-HTTP backend may poll for
	// the answer before it blocks, while the transport serves one request
	// at a time and where polling measures faster (h1.Config.SpinWait):
	// about one fast loopback or same-rack exchange. At one client
	// connection it took 20-35 µs off the median on the bench machine;
	// with any concurrency it is off.
	spinWait = 100 * time.Microsecond
)

// transportKey identifies one provisioned transport: backends that share the
// same timeout and protocol share connections.
type transportKey struct {
	timeout time.Duration
	scheme  string // of the backends' configured URLs: http, https or h2c
}

// transports provisions transports on demand during Provision and cleans
// all of them up with the handler. Plain-HTTP backends get the lean h1
// transport, which runs each exchange in the request's own goroutine on
// pooled keep-alive connections; https and h2c backends get Caddy's
// HTTPTransport (TLS, HTTP/2).
type transports struct {
	ctx caddy.Context
	m   map[transportKey]http.RoundTripper
}

func (ts *transports) get(timeout time.Duration, scheme string) (http.RoundTripper, error) {
	k := transportKey{timeout, scheme}
	if t, ok := ts.m[k]; ok {
		return t, nil
	}
	if ts.m == nil {
		ts.m = make(map[transportKey]http.RoundTripper)
	}
	dial := defaultDialTimeout
	if timeout > 0 && timeout < dial {
		dial = timeout
	}
	if scheme == "http" {
		t := h1.New(h1.Config{
			DialTimeout:           dial,
			ResponseHeaderTimeout: timeout,
			MaxIdlePerHost:        maxIdleConnsPerHost,
			SpinWait:              spinWait,
		})
		ts.m[k] = t
		return t, nil
	}
	off := false
	t := &reverseproxy.HTTPTransport{
		// The proxy must pass bodies through untouched: with compression
		// on, Go's transport would ask for gzip and silently decode it.
		Compression:           &off,
		DialTimeout:           caddy.Duration(dial),
		ResponseHeaderTimeout: caddy.Duration(timeout),
		KeepAlive: &reverseproxy.KeepAlive{
			MaxIdleConnsPerHost: maxIdleConnsPerHost,
		},
	}
	switch scheme {
	case "h2c":
		t.Versions = []string{"h2c", "2"}
	case "https":
		// The TLS handshake is part of the dial and has its bound: without
		// one, a backend that accepts the connection and never answers the
		// handshake held the request (and its goroutines and socket) past
		// the route's timeout, and the breaker never saw a failure.
		t.TLS = &reverseproxy.TLSConfig{HandshakeTimeout: caddy.Duration(dial)}
	}
	if err := t.Provision(ts.ctx); err != nil {
		return nil, fmt.Errorf("provisioning transport: %v", err)
	}
	ts.m[k] = t
	return t, nil
}

// cleanup closes every transport's idle connections; requests still in
// flight on the old config finish.
func (ts *transports) cleanup() {
	for _, t := range ts.m {
		switch t := t.(type) {
		case *h1.Transport:
			_ = t.Close()
		case *reverseproxy.HTTPTransport:
			_ = t.Cleanup()
		}
	}
}

// isH1 reports whether t is the lean HTTP/1.1 transport.
func isH1(t http.RoundTripper) bool {
	_, ok := t.(*h1.Transport)
	return ok
}
