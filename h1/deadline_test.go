package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// deadlineConn counts the deadlines set on a connection.
type deadlineConn struct {
	net.Conn
	sets *atomic.Int64
}

func (c deadlineConn) SetDeadline(t time.Time) error {
	c.sets.Add(1)
	return c.Conn.SetDeadline(t)
}

func (c deadlineConn) SetReadDeadline(t time.Time) error {
	c.sets.Add(1)
	return c.Conn.SetReadDeadline(t)
}

func (c deadlineConn) SetWriteDeadline(t time.Time) error {
	c.sets.Add(1)
	return c.Conn.SetWriteDeadline(t)
}

func (c deadlineConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

func countingDialer(sets *atomic.Int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return deadlineConn{c, sets}, nil
	}
}

// The read deadline is set once per window on a busy connection, not once
// per request: the header deadline's (timeout/16) when it is the nearer,
// the context check's (abortCheck/4) when that is.
func TestDeadlineSetLazily(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	for _, tc := range []struct {
		name           string
		timeout, check time.Duration
	}{
		{"header deadline", time.Minute, time.Hour},
		{"context check", time.Hour, time.Minute},
		{"context check, no header timeout", 0, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sets atomic.Int64
			tr := New(Config{ResponseHeaderTimeout: tc.timeout, DialContext: countingDialer(&sets)})
			tr.abortCheck = tc.check
			defer tr.Close()
			before := srv.accepted.Load()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for range 50 {
				if _, body := do(t, tr, mustReq(t, ctx, "GET", srv.URL, nil)); body != "ok" {
					t.Fatalf("body %q", body)
				}
			}
			if n := srv.accepted.Load() - before; n != 1 {
				t.Fatalf("%d connections for 50 sequential requests, want 1", n)
			}
			if n := sets.Load(); n != 1 {
				t.Errorf("%d deadlines set for 50 requests within a second, want 1", n)
			}
		})
	}
}

// A body may stream for longer than the header timeout; the connection
// then serves the next request, whose own header deadline still holds.
func TestBodyOutlivesHeaderDeadline(t *testing.T) {
	const timeout = 30 * time.Millisecond
	rs := newRawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, _, err := readRequest(br)
			if err != nil {
				return
			}
			switch req.URL.Path {
			case "/slow-body":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
				for i := range 10 {
					time.Sleep(timeout / 2)
					fmt.Fprintf(c, "2\r\n%02d\r\n", i)
				}
				io.WriteString(c, "0\r\n\r\n")
			case "/hang":
				io.Copy(io.Discard, c)
				return
			default:
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		}
	})
	tr := New(Config{ResponseHeaderTimeout: timeout})
	defer tr.Close()
	start := time.Now()
	_, body := get(t, tr, rs.url()+"/slow-body")
	if want := "00010203040506070809"; body != want {
		t.Fatalf("slow body %q, want %q", body, want)
	}
	if el := time.Since(start); el < 2*timeout {
		t.Fatalf("the body took %v, not past the %v deadline: the test proves nothing", el, timeout)
	}
	if _, body := get(t, tr, rs.url()+"/next"); body != "ok" {
		t.Fatalf("next request on the connection: %q", body)
	}
	if n := rs.accepted.Load(); n != 1 {
		t.Errorf("%d connections, want the one reused", n)
	}
	start = time.Now()
	_, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", rs.url()+"/hang", nil))
	if !errors.Is(err, ErrResponseHeaderTimeout) {
		t.Fatalf("hanging backend after a long body: err = %v, want ErrResponseHeaderTimeout", err)
	}
	if el := time.Since(start); el < timeout {
		t.Errorf("timed out after %v, before the %v timeout", el, timeout)
	}
}

// A deadline that expired while the connection idled in the pool does not
// make the connection look dead, nor fail the next exchange.
func TestDeadlineExpiredWhileIdle(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	}))
	tr := New(Config{ResponseHeaderTimeout: 10 * time.Millisecond})
	defer tr.Close()
	get(t, tr, srv.URL)
	time.Sleep(30 * time.Millisecond) // past the deadline and its slack
	// A POST is checked for liveness before it is written.
	if _, body := do(t, tr, mustReq(t, context.Background(), "POST", srv.URL, onceBody("x"))); body != "POST x" {
		t.Fatalf("POST after idling: %q", body)
	}
	time.Sleep(30 * time.Millisecond)
	if _, body := get(t, tr, srv.URL); body != "GET " {
		t.Fatalf("GET after idling: %q", body)
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("%d connections, want the idle one reused each time", n)
	}
}

// With a header deadline armed, a cancelled context and a Close still
// interrupt a body read at once (the lifted deadline never hides them).
func TestAbortWithDeadlineArmed(t *testing.T) {
	rs := newRawServer(t, func(_ int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nten bytes!")
		io.Copy(io.Discard, c)
	})
	tr := New(Config{ResponseHeaderTimeout: 20 * time.Millisecond})
	defer tr.Close()
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp, err := tr.RoundTrip(mustReq(t, ctx, "GET", rs.url(), nil))
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 10)
			if _, err := io.ReadFull(resp.Body, buf); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := resp.Body.Read(buf)
				done <- err
			}()
			// Let the header deadline expire under the read first.
			time.Sleep(40 * time.Millisecond)
			if how == "cancel" {
				cancel()
			} else {
				resp.Body.Close()
			}
			select {
			case err := <-done:
				if err == nil || (how == "cancel" && !errors.Is(err, context.Canceled)) {
					t.Errorf("err = %v after %s", err, how)
				}
			case <-time.After(waitFor):
				t.Fatalf("%s did not interrupt the body read", how)
			}
			resp.Body.Close()
		})
	}
	if n := tr.idleCount(); n != 0 {
		t.Error("aborted connection pooled")
	}
}

// slowBody yields n chunks, one every gap: a client uploading at its own
// pace.
type slowBody struct {
	n   int
	gap time.Duration
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(b.gap)
	b.n--
	return copy(p, "chunk"), nil
}

// The header timeout starts once the request, body included, is written:
// an upload that takes several timeouts succeeds, and a backend silent
// after it still times out, a timeout after the upload ended.
func TestHeaderTimeoutStartsAfterUpload(t *testing.T) {
	const timeout = 50 * time.Millisecond
	rs := newRawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, body, err := readRequest(br)
			if err != nil {
				return
			}
			if req.URL.Path == "/silent" {
				io.Copy(io.Discard, c)
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	})
	tr := New(Config{ResponseHeaderTimeout: timeout})
	defer tr.Close()
	for _, reused := range []bool{false, true} {
		start := time.Now()
		body := &slowBody{n: 8, gap: timeout / 2} // 4 timeouts long, chunked
		_, got := do(t, tr, mustReq(t, context.Background(), "POST", rs.url(), body))
		if got != strings.Repeat("chunk", 8) {
			t.Fatalf("reused %v: echoed %q", reused, got)
		}
		if el := time.Since(start); el < 3*timeout {
			t.Fatalf("upload took %v, not past the timeout: the test proves nothing", el)
		}
	}
	if n := rs.accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	var ended time.Time
	body := &slowBody{n: 4, gap: timeout / 2}
	rd := io.MultiReader(body, readerFunc(func([]byte) (int, error) { ended = time.Now(); return 0, io.EOF }))
	_, err := tr.RoundTrip(mustReq(t, context.Background(), "POST", rs.url()+"/silent", rd))
	if !errors.Is(err, ErrResponseHeaderTimeout) {
		t.Fatalf("silent backend after an upload: err = %v, want ErrResponseHeaderTimeout", err)
	}
	if el := time.Since(ended); el < timeout {
		t.Errorf("timed out %v after the upload ended, before the %v timeout", el, timeout)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// cancelOnInterim cancels the exchange's context when a 1xx arrives.
type cancelOnInterim struct{ cancel context.CancelFunc }

func (h cancelOnInterim) Interim(int, http.Header) error { h.cancel(); return nil }

// A context that ends while the final head is parsed from bytes already
// buffered (no read left for an abort's deadline to fail): a watched
// exchange (a request with a body) still fails, and its connection, whose
// deadline the abort spoilt, is not pooled: the check at the end of the
// exchange, not the abort alone, sees to it. An exchange no watcher follows
// (a bodiless request) got its whole answer within abortCheck: it is
// delivered, and its connection, untouched, goes back to the pool.
func TestContextEndedBeforeFinish(t *testing.T) {
	rs := newRawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			// One write: the final head is buffered with the interim one.
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	for _, tc := range []struct {
		name      string
		body      io.Reader
		delivered bool
	}{
		{"with a body", onceBody("x"), false},
		{"without a body", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Config{})
			defer tr.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp, err := tr.RoundTripInterim(mustReq(t, ctx, "POST", rs.url(), tc.body), cancelOnInterim{cancel})
			switch {
			case tc.delivered && err != nil:
				t.Fatalf("err = %v, want the answer", err)
			case tc.delivered:
				if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
					t.Errorf("body %q, %v", b, err)
				}
				resp.Body.Close()
				if n := tr.idleCount(); n != 1 {
					t.Errorf("%d idle connections after a delivered exchange, want 1", n)
				}
				return
			case err == nil:
				resp.Body.Close()
				t.Fatal("a context that ended during the exchange got its response")
			case !errors.Is(err, context.Canceled):
				t.Errorf("err = %v, want context.Canceled", err)
			}
			if n := tr.idleCount(); n != 0 {
				t.Errorf("%d idle connections after a cancelled exchange, want 0", n)
			}
		})
	}
}
