package smartproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
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
	if scheme == "https" {
		t.Transport.DialTLSContext = dialTLS(t.Transport.TLSClientConfig, dial)
	}
	ts.m[k] = t
	return t, nil
}

// dialTLS dials an https backend: TCP and the TLS handshake together
// within the dial timeout. A connection that negotiated HTTP/2 is pooled
// as net/http pools it (its framing cannot hide one response in another).
// One that speaks HTTP/1.1 carries a single exchange (oneExchangeConn):
// net/http returns such a connection to its pool before it looks for
// bytes left after the response, so under concurrency a backend's extra
// bytes (a body past its Content-Length, bytes after a chunked body, a
// body after the answer to HEAD) were read as another request's response
// (TestTLSBackendHostileResponsesUnderConcurrency). Sessions are resumed,
// which keeps the cost of the extra handshakes down.
func dialTLS(base *tls.Config, dial time.Duration) func(context.Context, string, string) (net.Conn, error) {
	if base == nil {
		base = new(tls.Config)
	} else {
		base = base.Clone()
	}
	if base.ClientSessionCache == nil {
		base.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	}
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, dial)
		defer cancel()
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, reverseproxy.NewDialError(err)
		}
		cfg := base.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			// Nothing of the request was sent.
			return nil, reverseproxy.NewDialError(fmt.Errorf("tls handshake with %s: %w", addr, err))
		}
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			return tc, nil // net/http's HTTP/2 needs the *tls.Conn itself
		}
		return &oneExchangeConn{Conn: tc}, nil
	}
}

// oneExchangeConn is an HTTP/1.1-over-TLS backend connection that carries
// one exchange: it adds "Connection: close" to the head of the final
// response (after any 1xx interim ones; a 101 is left alone, its
// connection becomes a tunnel), so net/http closes the connection after
// that response instead of pooling it. Its bytes are otherwise passed on
// untouched.
type oneExchangeConn struct {
	*tls.Conn
	state   int    // exStatus, exInterim or exPass
	status  []byte // the status line so far (its first bytes)
	lineLen int    // bytes of the current header line of an interim head, CR aside
	pending []byte // to return before reading on
	err     error  // the read error that came with pending
}

const (
	exStatus  = iota // reading a status line
	exInterim        // reading the header fields of a 1xx response
	exPass           // the final head is marked: pass everything on
)

var connectionClose = []byte("Connection: close\r\n")

func (c *oneExchangeConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 && c.err != nil {
			return n, c.err
		}
		return n, nil
	}
	n, err := c.Conn.Read(p)
	for i := 0; i < n && c.state != exPass; i++ {
		b := p[i]
		if c.state == exInterim {
			switch {
			case b == '\n' && c.lineLen == 0: // the blank line: a head follows
				c.state, c.status = exStatus, c.status[:0]
			case b == '\n':
				c.lineLen = 0
			case b != '\r':
				c.lineLen++
			}
			continue
		}
		if b != '\n' {
			if len(c.status) < 16 {
				c.status = append(c.status, b)
			}
			continue
		}
		switch code := statusCode(c.status); {
		case code == http.StatusSwitchingProtocols:
			c.state = exPass
		case code >= 100 && code < 200:
			c.state, c.lineLen = exInterim, 0
		default:
			c.state = exPass
			c.pending = append(append(make([]byte, 0, len(connectionClose)+n-i-1), connectionClose...), p[i+1:n]...)
			c.err = err
			return i + 1, nil
		}
	}
	return n, err
}

// statusCode returns the code of a status line ("HTTP/1.1 200 OK"), or 0.
func statusCode(line []byte) int {
	_, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(rest) < 3 {
		return 0
	}
	code := 0
	for _, d := range rest[:3] {
		if d < '0' || d > '9' {
			return 0
		}
		code = code*10 + int(d-'0')
	}
	return code
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
