package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// One read deadline on the socket serves the header timeout, the context
// check (bodiless requests), the wait for 100 Continue and the
// connection's own per-read bound (timeouts.read), and the transport's
// abort. Whichever ends the wait for a response head is the one named:
// ErrResponseHeaderTimeout only for the header timeout, ErrReadTimeout
// for the per-read bound (before the context check, after it, with and
// without a header timeout), the context's error when the client left;
// for a bodiless request, one with a body, and one that waits for
// 100 Continue (in silence: its body then goes, and the head is awaited).
func TestHeadWaitCauseNamed(t *testing.T) {
	kinds := []struct {
		name   string
		method string
		body   string
		expect bool
	}{
		{"bodiless", "GET", "", false},
		{"with a body", "POST", "payload", false},
		{"100-continue", "PUT", "payload", true},
	}
	causes := []struct {
		name    string
		timeout time.Duration // ResponseHeaderTimeout
		perRead time.Duration // the connection's own bound; 0: none
		check   time.Duration // abortCheck
		leave   bool          // the client leaves once the backend has the request
		want    error
	}{
		{name: "header timeout", timeout: 150 * time.Millisecond, check: 20 * time.Millisecond, want: ErrResponseHeaderTimeout},
		{name: "header timeout before the check", timeout: 50 * time.Millisecond, check: time.Hour, want: ErrResponseHeaderTimeout},
		{name: "read timeout before the check", timeout: time.Minute, perRead: 60 * time.Millisecond, check: time.Hour, want: ErrReadTimeout},
		{name: "read timeout after the check", timeout: time.Minute, perRead: 150 * time.Millisecond, check: 20 * time.Millisecond, want: ErrReadTimeout},
		{name: "read timeout, no header timeout", perRead: 150 * time.Millisecond, check: 20 * time.Millisecond, want: ErrReadTimeout},
		{name: "client leaves", timeout: time.Minute, check: 20 * time.Millisecond, leave: true, want: context.Canceled},
		{name: "client leaves, read timeout", timeout: time.Minute, perRead: time.Minute, check: 20 * time.Millisecond, leave: true, want: context.Canceled},
	}
	others := []error{ErrResponseHeaderTimeout, ErrReadTimeout, context.Canceled}
	for _, k := range kinds {
		for _, tc := range causes {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				started := make(chan struct{}, 1)
				rs := hangServer(t, started)
				cfg := Config{ResponseHeaderTimeout: tc.timeout, ExpectContinueTimeout: 30 * time.Millisecond}
				if tc.perRead > 0 {
					cfg.DialContext = perReadDial(tc.perRead)
				}
				tr := New(cfg)
				tr.abortCheck = tc.check
				defer tr.Close()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				req := mustReq(t, ctx, k.method, rs.url(), nil)
				if k.body != "" {
					req = mustReq(t, ctx, k.method, rs.url(), onceBody(k.body))
					req.ContentLength = int64(len(k.body))
				}
				if k.expect {
					req.Header.Set("Expect", "100-continue")
				}
				done := roundTripAsync(tr, req)
				if tc.leave {
					select {
					case <-started:
					case <-time.After(waitFor):
						t.Fatal("the backend got no request")
					}
					cancel()
				}
				var err error
				select {
				case err = <-done:
				case <-time.After(waitFor):
					t.Fatal("the exchange did not end")
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				for _, o := range others {
					if o != tc.want && errors.Is(err, o) {
						t.Errorf("err = %v, is %v too", err, o)
					}
				}
				if tc.want != context.Canceled && strings.Contains(err.Error(), "canceled") {
					t.Errorf("err = %v names the client", err)
				}
			})
		}
	}
}

// A backend sends a head and half a body, then nothing. The connection's
// own per-read bound (timeouts.read) ends the body's read: it fails with
// ErrBodyReadTimeout, a timeout, named as neither the head's timeouts nor
// the client; under a header timeout and a context check that both pass
// while the body waits (each lifted as it expires), and framed by
// Content-Length or chunked. The client leaving first is named as itself.
func TestBodyReadCauseNamed(t *testing.T) {
	heads := []struct{ name, head string }{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
	}
	causes := []struct {
		name    string
		timeout time.Duration // ResponseHeaderTimeout
		perRead time.Duration
		leave   bool // the client leaves once the half body is read
		want    error
	}{
		{name: "read timeout", perRead: 100 * time.Millisecond, want: ErrBodyReadTimeout},
		{name: "read timeout after the header timeout", timeout: 30 * time.Millisecond, perRead: 150 * time.Millisecond, want: ErrBodyReadTimeout},
		{name: "client leaves", perRead: time.Minute, leave: true, want: context.Canceled},
	}
	others := []error{ErrResponseHeaderTimeout, ErrReadTimeout, ErrBodyReadTimeout, context.Canceled}
	for _, h := range heads {
		for _, tc := range causes {
			t.Run(h.name+"/"+tc.name, func(t *testing.T) {
				closed := make(chan struct{})
				rs := newRawServer(t, func(n int, c net.Conn) {
					if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
						return
					}
					io.WriteString(c, h.head)
					io.Copy(io.Discard, c) // until the transport closes
					close(closed)
				})
				tr := New(Config{ResponseHeaderTimeout: tc.timeout, DialContext: perReadDial(tc.perRead)})
				tr.abortCheck = 20 * time.Millisecond
				defer tr.Close()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				resp, err := tr.RoundTrip(mustReq(t, ctx, "GET", rs.url(), nil))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				half := make([]byte, 5)
				if _, err := io.ReadFull(resp.Body, half); err != nil {
					t.Fatalf("the half body: %v", err)
				}
				if tc.leave {
					time.AfterFunc(50*time.Millisecond, cancel)
				}
				_, err = io.ReadAll(resp.Body)
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				for _, o := range others {
					if o != tc.want && errors.Is(err, o) {
						t.Errorf("err = %v, is %v too", err, o)
					}
				}
				var ne net.Error
				if tc.want == ErrBodyReadTimeout && (!errors.As(err, &ne) || !ne.Timeout()) {
					t.Errorf("err = %v is not a net.Error timeout", err)
				}
				waitClosed(t, closed)
				if n := tr.idleCount(); n != 0 {
					t.Errorf("%d connections pooled after a cut body", n)
				}
			})
		}
	}
}
