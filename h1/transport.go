// Package h1 is a lean HTTP/1.1 client transport for plain-HTTP backends.
//
// net/http's Transport hands every request between goroutines (a writer
// and a reader per connection, plus the caller) through channels, and that
// machinery, not the wire work, dominated the proxy's profile. This
// transport does the whole exchange in the caller's goroutine on pooled
// keep-alive connections, and keeps the standard library's framing: the
// request is written by (*http.Request).Write and the response parsed by
// http.ReadResponse, so what goes on the wire is what net/http would send.
// (A bodiless request head is written without Request.Write, and a plain
// response head, one single Content-Length and nothing to interpret, is
// parsed in place with fewer allocations, head.go; FuzzFastHead holds it to
// http.ReadResponse.)
//
// It speaks only http:// (HTTP/1.1 over TCP). TLS, HTTP/2 and h2c backends
// belong to a full transport.
//
// # Connection reuse
//
// A pooled connection carries one exchange after another, so a byte of one
// response left on it would be read as the start of the next, another
// user's, response. A connection therefore goes back to the pool only
// when its response was framed completely and unambiguously (read to the
// end of its Content-Length or its last chunk and trailer, or known to
// have no body) and, at that moment, no byte is buffered. It is peeked at
// (one non-blocking MSG_PEEK; Unix only) when taken from the pool, on every
// path, and a connection that has something readable (bytes that came
// past the response, unsolicited bytes while it idled, or the backend's
// close) is closed, never used. Responses to HEAD, 1xx, 204 and 304 never have a
// body, whatever their headers say: any byte after their head poisons the
// connection. A 101 hands the connection over; it is never pooled. A
// connection is closed, too, after the answer to a request whose body was
// not sent in full (an answer before 100 Continue, a write cut short by
// the backend) and when the request body failed to read.
//
// A backend can still race the checkout peek: bytes it sends in the
// microseconds between the peek and the next request's write are read as
// that request's answer. Only a backend that is itself desynchronised
// can do that, and no HTTP/1.1 client can rule it out.
//
// Framing decisions, per kind of doubtful response: each is refused
// (RoundTrip fails, so the proxy answers 502) where net/http refuses it,
// and otherwise delivered as net/http delivers it, its connection closed
// after it (TestFramingAgainstNetHTTP holds h1 to that):
//   - both Content-Length and Transfer-Encoding: chunked (RFC 9112 §6.3):
//     delivered by the chunked framing, connection closed;
//   - Transfer-Encoding other than a single "chunked" (gzip, chunked;
//     chunked, gzip; identity; two fields): refused;
//   - Content-Length fields that differ, or one that is not a number:
//     refused; several that agree: delivered, connection closed;
//   - an HTTP/1.0 response with Transfer-Encoding (which HTTP/1.0 ignores):
//     delivered by its Content-Length or to EOF, connection closed;
//   - a head too large to scan in the 4 KiB read buffer: delivered, its
//     connection closed when chunked or HTTP/1.0 (where the two cases
//     above could hide);
//   - more than 16 interim (1xx) responses: refused (net/http bounds
//     them only by the header size limit, which applies here too).
//
// # Timeouts
//
// ResponseHeaderTimeout starts when the request, body included, has been
// written: writing is paced by the client and bounded by the server's own
// read timeouts and the request's context, never by the header timeout.
// One exception: a request with "Expect: 100-continue" whose backend
// begins a head while the body waits for its go-ahead, and has not ended
// it when ExpectContinueTimeout is up. That head is read to its end (its
// bytes neither parsed as they stand nor thrown away) under the header
// timeout from then on; a 100 then sends the body, a final answer is the
// answer. A timeout inside a head is the exchange's cause, never the
// parse error of the head's partial last line.
//
// The request's context ends an exchange: at once for a request with a
// body or a context with a deadline (a context.AfterFunc watcher, which
// costs a few allocations), within 200-250 ms for any other (the read
// deadline doubles as the check, deadline.go; a slower exchange is
// watched from then on, and so is a head's write that cannot complete at
// once, which a backend that does not read could block forever). Headers
// that arrive before the check are returned even if the context ended
// meanwhile, and their body reads on until the check.
//
// # Errors
//
// A wait for a response head ends with the error of what ended it, though
// one socket deadline serves them all: ErrResponseHeaderTimeout for the
// header timeout, ErrReadTimeout for a per-read bound of the connection's
// own, the context's error when the request's context ended. A body read
// that the connection's own bound ends fails with ErrBodyReadTimeout.
//
// DialError means nothing was sent. RequestBodyError means the client's
// side failed (its body could not be read) and the backend is not to
// blame. ErrInvalidHeader refuses, before anything is written, a request
// whose header fields could break the framing (CR, LF, NUL and other
// control bytes, invalid field names, an invalid Host, a framing field
// such as Content-Length spelt other than canonically).
package h1

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config's zero fields.
const (
	// DefaultDialTimeout matches the proxy's dial timeout: a backend that
	// cannot accept a connection in 3s is better skipped for another.
	DefaultDialTimeout = 3 * time.Second
	// DefaultExpectContinueTimeout is how long a request with
	// "Expect: 100-continue" waits for the backend's go-ahead before the
	// body is sent anyway; 1s is net/http's customary value.
	DefaultExpectContinueTimeout = time.Second
	// DefaultIdleTimeout matches net/http's IdleConnTimeout; most servers
	// keep idle connections at least this long or close them first.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultMaxIdlePerHost is sized above any expected concurrency to one
	// backend: a pool smaller than the concurrency dials and closes
	// connections by the thousand per second (measured with Caddy's 32).
	DefaultMaxIdlePerHost = 1024
	// DefaultMaxResponseHeaderBytes matches net/http's Transport, so a
	// backend's headers pass here if they passed there.
	DefaultMaxResponseHeaderBytes = 10 << 20
)

// maxInterim bounds the 1xx responses skipped before the final one, so a
// backend cannot keep a request busy with an endless stream of them.
const maxInterim = 16

// Errors returned by RoundTrip.
var (
	// ErrScheme refuses a URL that is not http://.
	ErrScheme = errors.New("h1: unsupported URL scheme")
	// ErrNoHost refuses a request whose URL has no host.
	ErrNoHost = errors.New("h1: request URL has no host")
	// ErrResponseHeaderTimeout is returned when the response headers did
	// not arrive within Config.ResponseHeaderTimeout. It is a net.Error
	// whose Timeout() is true.
	ErrResponseHeaderTimeout error = timeoutError("h1: timeout awaiting response headers")
	// ErrReadTimeout is returned when a read of a response head timed out
	// by a deadline of the connection's own, not the transport's: a bound
	// on each read that DialContext's connection sets itself (the proxy's
	// timeouts.read), which a backend trickling its head stays within. It
	// is a net.Error whose Timeout() is true. A response body's read that
	// times out so fails with ErrBodyReadTimeout.
	ErrReadTimeout error = timeoutError("h1: read timeout awaiting response headers")
	// ErrBodyReadTimeout is returned by a response body's Read when a read
	// of it timed out by a deadline of the connection's own, as
	// ErrReadTimeout is for a head: the backend sent nothing for that long
	// in mid-body. It is a net.Error whose Timeout() is true. A spliced
	// body (SpliceTo) reads under no such bound: a connection that sets
	// one is not a *net.TCPConn, and its bodies are never spliced.
	ErrBodyReadTimeout error = timeoutError("h1: read timeout reading response body")
	// ErrTooManyInterim is returned when a backend sends more 1xx
	// responses than a request may skip.
	ErrTooManyInterim = errors.New("h1: too many 1xx responses")
	// ErrStatus is returned for a response whose status code is below
	// 100 (http.ReadResponse takes any three digits).
	ErrStatus = errors.New("h1: malformed status code")
	// ErrHeaderTooLarge is returned when a response head (interim ones
	// included) exceeds Config.MaxResponseHeaderBytes.
	ErrHeaderTooLarge = errors.New("h1: response headers too large")
	// ErrBodyClosed is returned by a response body read after Close.
	ErrBodyClosed = errors.New("h1: read on closed response body")
	// ErrInvalidHeader refuses a request with a header field name that is
	// not a token, a field value with a control byte other than HTAB (CR,
	// LF and NUL among them), as net/http's Transport does, or an invalid
	// Host, or Content-Length, Transfer-Encoding, Host or Trailer spelt
	// other than canonically, or a method that is not a token or a query
	// with a space (from an HTTP/2 server, which does not check them);
	// nothing is sent. The request is at fault:
	// 400.
	ErrInvalidHeader = errors.New("h1: invalid request header")
)

// timeoutError is a net.Error that reports a timeout.
type timeoutError string

func (e timeoutError) Error() string { return string(e) }

// Timeout reports true: the proxy maps timeouts to 504.
func (e timeoutError) Timeout() bool { return true }

// Temporary reports true, as net/http's timeouts do.
func (e timeoutError) Temporary() bool { return true }

// DialError wraps a failure to connect to a backend: nothing was sent, so
// the request may be tried on another backend whatever its method.
type DialError struct{ Err error }

func (e DialError) Error() string { return "h1: dialing backend: " + e.Err.Error() }

// Unwrap exposes the dial error (a *net.OpError, a context error, ...).
func (e DialError) Unwrap() error { return e.Err }

// RequestBodyError reports that reading the request body failed (its
// reader returned an error: a malformed chunked upload, a body over a
// size limit, a client gone): the client's side failed, not the
// backend's. The connection it was being written to is closed. Match it
// with errors.As(err, new(*RequestBodyError)); Unwrap gives the body's
// error, so errors.As still finds an *http.MaxBytesError.
type RequestBodyError struct{ Err error }

func (e *RequestBodyError) Error() string { return "h1: reading request body: " + e.Err.Error() }

// Unwrap exposes the body reader's error.
func (e *RequestBodyError) Unwrap() error { return e.Err }

// Config tunes a Transport. Every zero field gets the default it documents.
type Config struct {
	// DialTimeout bounds connecting to a backend; the request's context
	// may end the dial sooner. Default: 3s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the time from the end of writing the
	// request (its body included) to the end of the response headers (the
	// proxy's `timeout`). It limits neither the request's writing, which
	// goes at the client's pace, nor the response body, which may stream
	// for as long as it likes. It bounds, too, the rest of a head begun
	// during the wait for 100 Continue from the wait's end on. Default: 0,
	// no limit besides the request's context.
	ResponseHeaderTimeout time.Duration
	// ExpectContinueTimeout is how long a request carrying
	// "Expect: 100-continue" waits for "100 Continue" before sending its
	// body anyway. Default: 1s.
	ExpectContinueTimeout time.Duration
	// IdleTimeout is how long a connection may stay idle in the pool
	// before it is closed. Default: 90s.
	IdleTimeout time.Duration
	// MaxIdlePerHost bounds the idle connections kept per backend host;
	// a connection returned to a full pool is closed. A negative value
	// disables keep-alive (every connection is closed after one
	// exchange). Default: 1024.
	MaxIdlePerHost int
	// MaxResponseHeaderBytes bounds the bytes read before the final
	// response's body, so a broken backend cannot grow memory without
	// end. Default: 10 MiB.
	MaxResponseHeaderBytes int64
	// DialContext opens connections. Default: a net.Dialer with
	// DialTimeout and TCP keep-alive probes on.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// SpinWait, when positive, lets an exchange that is the only one
	// awaiting a response poll its connection for up to this long before
	// blocking: lower latency at low load for a little CPU (see spin.go).
	// Default: 0, off.
	SpinWait time.Duration
}

// Transport is an http.RoundTripper for plain-HTTP/1.1 backends that runs
// each exchange in the caller's goroutine on pooled keep-alive connections.
// It is safe for concurrent use. Make one with New; Close it when done.
type Transport struct {
	cfg  Config
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	now  func() time.Time // clock seam for idle expiry
	// abortCheck is how long an exchange no watcher follows awaits its
	// backend before it looks at its context (deadline.go); a seam so
	// that tests need not wait the default.
	abortCheck time.Duration

	hosts   atomic.Pointer[map[string]*hostPool] // copy on write
	mu      sync.Mutex                           // serialises host additions, reaper start, Close
	closed  atomic.Bool
	reaping atomic.Bool // a reaper was started (it stays set after Close)
	reaper  *reaper     // nil until the first connection is pooled
	spin    *spinner    // nil when SpinWait is off
}

// New returns a Transport with cfg's zero fields set to their defaults.
func New(cfg Config) *Transport {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.ExpectContinueTimeout <= 0 {
		cfg.ExpectContinueTimeout = DefaultExpectContinueTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxResponseHeaderBytes <= 0 {
		cfg.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	if cfg.MaxIdlePerHost == 0 {
		cfg.MaxIdlePerHost = DefaultMaxIdlePerHost
	}
	t := &Transport{cfg: cfg, dial: cfg.DialContext, now: time.Now, abortCheck: defaultAbortCheck,
		spin: newSpinner(cfg.SpinWait)}
	if t.dial == nil {
		d := &net.Dialer{Timeout: cfg.DialTimeout}
		t.dial = d.DialContext
	}
	m := map[string]*hostPool{}
	t.hosts.Store(&m)
	return t
}

// RoundTrip sends req and returns the response headers; the body streams
// from the connection, which goes back to the pool once the body has been
// read to EOF (at once when there is no body). A body closed before EOF
// closes its connection rather than draining it. Close the body in any
// case. A 101 response's body is the raw connection, an
// io.ReadWriteCloser that never returns to the pool. RoundTrip always
// closes req.Body, as the RoundTripper contract asks.
//
// A backend may close a pooled connection at any moment (its idle
// timeout, a restart). RoundTrip sends the request again, once, on a
// freshly dialled connection when the first attempt was on a reused
// connection and failed the way a closed one fails, and only then:
//   - writing the request failed with EOF, EPIPE or a connection reset:
//     retried when the body can be sent again (no body, or GetBody set);
//   - the request was written, then EOF or a reset came before the first
//     response byte: the backend may have acted on it, so it is retried
//     only when, besides, it is idempotent (GET, HEAD, OPTIONS, TRACE,
//     PUT, DELETE, or an Idempotency-Key / X-Idempotency-Key header).
//
// Never after a timeout, a context end, or any response byte. Every
// pooled connection is besides checked before use (one non-blocking peek;
// Unix only), so a request is not written to a connection closed while
// idle; only a close that races the write itself then fails it.
//
// A request whose header fields could break the framing is refused with
// ErrInvalidHeader before anything is sent; a request body that fails to
// read fails the exchange with a *RequestBodyError.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.RoundTripInterim(req, nil)
}

// An InterimHandler is told of each interim (1xx) response an exchange
// skips, 100 Continue included, as httptrace's Got1xxResponse is; an error
// fails the exchange. It runs in the caller's goroutine, before
// RoundTripInterim returns, and header is the 1xx's own.
type InterimHandler interface {
	Interim(code int, header http.Header) error
}

// RoundTripInterim is RoundTrip with ih, when not nil, told of the
// interim responses in place of the request context's client trace: a
// proxy that forwards them needs no context of its own per request.
func (t *Transport) RoundTripInterim(req *http.Request, ih InterimHandler) (*http.Response, error) {
	u := req.URL
	if u == nil || u.Scheme != "http" {
		closeBody(req)
		scheme := ""
		if u != nil {
			scheme = u.Scheme
		}
		return nil, fmt.Errorf("%w: %q", ErrScheme, scheme)
	}
	if u.Host == "" {
		closeBody(req)
		return nil, ErrNoHost
	}
	if err := validateRequest(req); err != nil {
		closeBody(req)
		return nil, err
	}
	hp := t.hostPool(u.Host)
	ctx := req.Context()
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	idem := idempotent(req)
	for attempt := 0; ; attempt++ {
		var c *conn
		var err error
		if attempt == 0 {
			c, err = t.getConn(ctx, hp)
		} else {
			// The retry dials: the pool may hold more connections that
			// the backend closed (it restarted, say).
			c, err = t.dialConn(ctx, hp)
		}
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, stale, err := c.roundTrip(req, ih)
		if err == nil {
			return resp, nil
		}
		if attempt > 0 || !stale.retryable(replayable, idem) || ctx.Err() != nil {
			return nil, err
		}
		if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			r2 := new(http.Request)
			*r2 = *req
			r2.Body = body
			req = r2
		}
	}
}

// Close closes every idle connection and stops the idle reaper. The
// Transport stays usable: connections in use when Close is called, and any
// made afterwards, are closed after their exchange instead of pooled.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed.Store(true)
	r := t.reaper
	t.reaper = nil
	t.mu.Unlock()
	if r != nil {
		r.stop()
	}
	for _, hp := range *t.hosts.Load() {
		hp.closeIdle()
	}
	return nil
}

// hostPool returns the pool for host, creating it on first use. Lookups
// read an immutable map; a new host copies it.
func (t *Transport) hostPool(host string) *hostPool {
	if hp, ok := (*t.hosts.Load())[host]; ok {
		return hp
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.hosts.Load()
	if hp, ok := old[host]; ok {
		return hp
	}
	m := make(map[string]*hostPool, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	hp := &hostPool{addr: dialAddr(host)}
	m[host] = hp
	t.hosts.Store(&m)
	return hp
}

// dialAddr adds HTTP's default port to a host that has none.
func dialAddr(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return host + ":80"
	}
	return net.JoinHostPort(host, "80")
}

// idempotent reports whether req may be applied twice (RFC 9110's
// idempotent methods, or an idempotency key).
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	_, k1 := req.Header["Idempotency-Key"]
	_, k2 := req.Header["X-Idempotency-Key"]
	return k1 || k2
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// Interface guards
var (
	_ http.RoundTripper = (*Transport)(nil)
	_ net.Error         = timeoutError("")
)
