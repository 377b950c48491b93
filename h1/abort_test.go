package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// stallServer answers each request with head (may be empty) and then
// reads until the connection closes, reporting the close on closed.
func stallServer(t *testing.T, head string, started, closed chan<- struct{}) *rawServer {
	return newRawServer(t, func(_ int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, head)
		started <- struct{}{}
		io.Copy(io.Discard, c) // until the transport closes its side
		closed <- struct{}{}
	})
}

// An exchange no watcher follows still notices, by its read deadline, a
// context that ends while the backend is slow, awaiting headers or
// reading the body, with or without a header timeout, and closes the
// backend connection; a request with a body or a context with a deadline
// is watched from the start, so it notices at once even when the check
// would take an hour.
func TestContextEndNoticed(t *testing.T) {
	const body = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!"
	cases := []struct {
		name    string
		head    string // sent before the backend stalls
		timeout time.Duration
		check   time.Duration
		upload  bool
		ctx     func() (context.Context, context.CancelFunc)
	}{
		{name: "awaiting headers", check: 20 * time.Millisecond},
		{name: "awaiting headers, header timeout", timeout: time.Minute, check: 20 * time.Millisecond},
		{name: "reading body", head: body, check: 20 * time.Millisecond},
		{name: "reading body, header timeout", head: body, timeout: time.Minute, check: 20 * time.Millisecond},
		{name: "with a body", upload: true, check: time.Hour},
		{name: "with a body, reading body", head: body, upload: true, check: time.Hour},
		{name: "context with a deadline", check: time.Hour, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			started, closed := make(chan struct{}, 1), make(chan struct{}, 1)
			rs := stallServer(t, tc.head, started, closed)
			tr := New(Config{ResponseHeaderTimeout: tc.timeout})
			tr.abortCheck = tc.check
			defer tr.Close()
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			var rd io.Reader
			if tc.upload {
				rd = strings.NewReader("upload")
			}
			done := roundTripAsync(tr, mustReq(t, ctx, "POST", rs.url(), rd))
			<-started
			if tc.ctx == nil {
				cancel() // else its deadline ends it
			}
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err = %v, want the context's end", err)
				}
			case <-time.After(waitFor):
				t.Fatal("the context's end was not noticed")
			}
			waitClosed(t, closed)
			if n := tr.idleCount(); n != 0 {
				t.Errorf("%d idle connections after an aborted exchange, want 0", n)
			}
		})
	}
}

// A live exchange outlasts any number of checks: a backend slower than
// abortCheck to answer and to stream its body is read to the end, the
// connection then serves the next request, and a header timeout longer
// than the check still times out at its own instant, not at the check's.
func TestSlowBackendOutlivesAbortCheck(t *testing.T) {
	const check = 5 * time.Millisecond
	rs := newRawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, _, err := readRequest(br)
			if err != nil {
				return
			}
			switch req.URL.Path {
			case "/slow-head":
				time.Sleep(8 * check)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n00010203")
			case "/slow-body":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")
				for i := range 4 {
					time.Sleep(2 * check)
					fmt.Fprintf(c, "%02d", i)
				}
			case "/hang":
				io.Copy(io.Discard, c)
				return
			default:
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		}
	})
	for _, timeout := range []time.Duration{0, 20 * check} {
		t.Run(fmt.Sprint("header timeout ", timeout), func(t *testing.T) {
			tr := New(Config{ResponseHeaderTimeout: timeout})
			tr.abortCheck = check
			defer tr.Close()
			before := rs.accepted.Load()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for _, path := range []string{"/slow-head", "/slow-body"} {
				start := time.Now()
				if _, b := do(t, tr, mustReq(t, ctx, "GET", rs.url()+path, nil)); b != "00010203" {
					t.Fatalf("%s: body %q", path, b)
				}
				if el := time.Since(start); el < 8*check {
					t.Fatalf("%s took %v, not past the checks: the test proves nothing", path, el)
				}
			}
			if _, b := do(t, tr, mustReq(t, ctx, "GET", rs.url()+"/next", nil)); b != "ok" {
				t.Fatalf("next request on the connection: %q", b)
			}
			if n := rs.accepted.Load() - before; n != 1 {
				t.Errorf("%d connections, want the one reused", n)
			}
			if timeout == 0 {
				return
			}
			start := time.Now()
			_, err := tr.RoundTrip(mustReq(t, ctx, "GET", rs.url()+"/hang", nil))
			if !errors.Is(err, ErrResponseHeaderTimeout) {
				t.Fatalf("hanging backend: err = %v, want ErrResponseHeaderTimeout", err)
			}
			if el := time.Since(start); el < timeout {
				t.Errorf("timed out after %v, before the %v timeout", el, timeout)
			}
		})
	}
}

// perReadConn bounds each read by its own deadline, as the proxy's
// timeouts.read wrapper does, keeping the earlier one the transport set.
type perReadConn struct {
	net.Conn
	d        time.Duration
	at       atomic.Int64 // the transport's read deadline, Unix ns; 0: none
	timedOut atomic.Int32 // reads that ended in a timeout
}

func (c *perReadConn) SetReadDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.at.Store(ns)
	return c.Conn.SetReadDeadline(t)
}

// perReadDial dials connections that bound each read by d (perReadConn).
func perReadDial(d time.Duration) func(context.Context, string, string) (net.Conn, error) {
	var dialer net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &perReadConn{Conn: c, d: d}, nil
	}
}

// SetDeadline keeps the read half, as the proxy's wrapper does: an abort
// sets one, and a read that followed it must not replace it with its own.
func (c *perReadConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *perReadConn) Read(p []byte) (int, error) {
	t := time.Now().Add(c.d)
	if at := c.at.Load(); at != 0 && at < t.UnixNano() {
		t = time.Unix(0, at)
	}
	c.Conn.SetReadDeadline(t)
	n, err := c.Conn.Read(p)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.timedOut.Add(1)
	}
	return n, err
}

func (c *perReadConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// A read that times out before the transport's own deadline timed out by
// a bound of the connection's (the proxy's per-read timeout): that is
// final, awaiting headers as under a body, and not read through until the
// header deadline.
func TestForeignTimeoutIsFinal(t *testing.T) {
	const perRead = 20 * time.Millisecond
	for _, tc := range []struct{ name, head string }{
		{"awaiting headers", ""},
		{"inside the head", "HTTP/1.1 200 OK\r\nContent-Le"}, // a timeout, not the partial line's parse error
		{"reading body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started, closed := make(chan struct{}, 1), make(chan struct{}, 1)
			rs := stallServer(t, tc.head, started, closed)
			var d net.Dialer
			var pc atomic.Pointer[perReadConn]
			tr := New(Config{ResponseHeaderTimeout: time.Minute,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := d.DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					p := &perReadConn{Conn: c, d: perRead}
					pc.Store(p)
					return p, nil
				}})
			tr.abortCheck = time.Hour
			defer tr.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			begin := time.Now()
			resp, err := tr.RoundTrip(mustReq(t, ctx, "GET", rs.url(), nil))
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("err = %v, want a timeout", err)
			}
			if el := time.Since(begin); el > waitFor/2 {
				t.Fatalf("a %v per-read timeout ended the exchange only after %v", perRead, el)
			}
			// One wait, not one per reader of the head (the peek and
			// http.ReadResponse, the scan and ReadResponse): a failed read
			// of the exchange's head is final for it.
			if n := pc.Load().timedOut.Load(); n != 1 {
				t.Fatalf("%d reads timed out, want 1: the per-read timeout was waited %d times", n, n)
			}
		})
	}
}
