package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func withGot1xx(ctx context.Context, f func(int, map[string][]string)) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			f(code, h)
			return nil
		},
	})
}

// TestRequestFraming checks what reaches the backend: the request line
// from the URL's path and query, Host from req.Host, and no User-Agent
// when the header holds an empty one (the proxy's way to send none).
func TestRequestFraming(t *testing.T) {
	got := make(chan *http.Request, 1)
	rs := newRawServer(t, func(n int, c net.Conn) {
		req, _, err := readRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		got <- req
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	})
	tr := New(Config{})
	defer tr.Close()
	cases := []struct {
		name   string
		ua     []string
		wantUA []string
	}{
		{"empty user agent sends none", []string{""}, nil},
		{"client user agent kept", []string{"curl/8"}, []string{"curl/8"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := mustReq(t, context.Background(), "GET", rs.url()+"/a%2Fb/c?x=1&y=%20", nil)
			req.Host = "front.example"
			req.Header["User-Agent"] = tc.ua
			req.Header.Set("X-Forwarded-For", "10.0.0.1")
			do(t, tr, req)
			r := <-got
			if r.RequestURI != "/a%2Fb/c?x=1&y=%20" {
				t.Errorf("request URI %q", r.RequestURI)
			}
			if r.Host != "front.example" {
				t.Errorf("Host %q", r.Host)
			}
			if ua, ok := r.Header["User-Agent"]; ok != (tc.wantUA != nil) || (ok && ua[0] != tc.wantUA[0]) {
				t.Errorf("User-Agent %q (present %v), want %q", ua, ok, tc.wantUA)
			}
			if r.Header.Get("X-Forwarded-For") != "10.0.0.1" {
				t.Errorf("header lost: %v", r.Header)
			}
		})
	}
}

func TestRequestBodies(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-TE", strings.Join(r.TransferEncoding, ","))
		w.Write(b)
	}))
	tr := New(Config{})
	defer tr.Close()
	cases := []struct {
		name   string
		body   io.Reader
		wantTE string
	}{
		{"known length", strings.NewReader("hello"), ""},
		{"unknown length is chunked", onceBody("hello"), "chunked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tr, mustReq(t, context.Background(), "POST", srv.URL, tc.body))
			if body != "hello" || resp.Header.Get("X-TE") != tc.wantTE {
				t.Errorf("body %q, TE %q; want hello, %q", body, resp.Header.Get("X-TE"), tc.wantTE)
			}
		})
	}
}

// trackedBody records whether any of it was read.
type trackedBody struct {
	io.Reader
	read atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) { b.read.Store(true); return b.Reader.Read(p) }

func TestExpectContinue(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusExpectationFailed) // body never read: no 100
			return
		}
		b, _ := io.ReadAll(r.Body) // reading makes net/http send 100 Continue
		w.Write(b)
	}))
	// A backend that ignores Expect and just waits for the body.
	deaf := newRawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			_, body, err := readRequest(br)
			if err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
		}
	})
	cases := []struct {
		name       string
		url        string
		wantStatus int
		wantBody   string
		wantSent   bool
	}{
		{"100 then body", srv.URL + "/echo", 200, "payload", true},
		{"refused before body", srv.URL + "/refuse", 417, "", false},
		{"no 100, body sent after timeout", deaf.url(), 200, "payload", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The short wait only bounds the deaf backend's case.
			tr := New(Config{ExpectContinueTimeout: 50 * time.Millisecond})
			defer tr.Close()
			var got100 bool
			ctx := withGot1xx(context.Background(), func(int, map[string][]string) { got100 = true })
			body := &trackedBody{Reader: strings.NewReader("payload")}
			req := mustReq(t, ctx, "PUT", tc.url, body)
			req.ContentLength = 7
			req.Header.Set("Expect", "100-continue")
			resp, got := do(t, tr, req)
			if resp.StatusCode != tc.wantStatus || got != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, got, tc.wantStatus, tc.wantBody)
			}
			if body.read.Load() != tc.wantSent {
				t.Errorf("body read = %v, want %v", body.read.Load(), tc.wantSent)
			}
			if got100 {
				t.Error("100 Continue leaked to the interim trace")
			}
			// The connection still works (or was replaced) afterwards.
			if _, b := do(t, tr, mustReq(t, context.Background(), "POST", tc.url, strings.NewReader("again"))); tc.wantSent && b != "again" {
				t.Errorf("next request body %q", b)
			}
		})
	}
}

// hangServer reads requests and never answers; started reports each one.
func hangServer(t *testing.T, started chan<- struct{}) *rawServer {
	return newRawServer(t, func(n int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		started <- struct{}{}
		io.Copy(io.Discard, c) // until the client or the test closes
	})
}

func TestResponseHeaderTimeout(t *testing.T) {
	started := make(chan struct{}, 1)
	rs := hangServer(t, started)
	tr := New(Config{ResponseHeaderTimeout: 50 * time.Millisecond})
	defer tr.Close()
	_, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", rs.url(), nil))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a net.Error with Timeout()", err)
	}
	if !errors.Is(err, ErrResponseHeaderTimeout) {
		t.Errorf("err = %v, want ErrResponseHeaderTimeout", err)
	}
	if n := tr.idleCount(); n != 0 {
		t.Errorf("timed-out connection pooled")
	}
}

func TestContextCancel(t *testing.T) {
	t.Run("awaiting headers", func(t *testing.T) {
		started := make(chan struct{}, 1)
		rs := hangServer(t, started)
		tr := New(Config{})
		defer tr.Close()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-started
			cancel()
		}()
		done := make(chan error, 1)
		go func() {
			_, err := tr.RoundTrip(mustReq(t, ctx, "GET", rs.url(), nil))
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		case <-time.After(waitFor):
			t.Fatal("cancel did not interrupt the read")
		}
	})
	t.Run("reading body", func(t *testing.T) {
		rs := newRawServer(t, func(n int, c net.Conn) {
			if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!")
			io.Copy(io.Discard, c)
		})
		tr := New(Config{})
		defer tr.Close()
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
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		case <-time.After(waitFor):
			t.Fatal("cancel did not interrupt the body read")
		}
		resp.Body.Close()
		if n := tr.idleCount(); n != 0 {
			t.Error("aborted connection pooled")
		}
	})
	t.Run("close during read", func(t *testing.T) {
		rs := newRawServer(t, func(n int, c net.Conn) {
			if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
			io.Copy(io.Discard, c)
		})
		tr := New(Config{})
		defer tr.Close()
		resp, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", rs.url(), nil))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := resp.Body.Read(make([]byte, 10))
			done <- err
		}()
		eventually(t, "the read to start", func() bool {
			b := resp.Body.(*body)
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.reading
		})
		resp.Body.Close()
		select {
		case err := <-done:
			if err == nil {
				t.Error("read interrupted by Close returned no error")
			}
		case <-time.After(waitFor):
			t.Fatal("Close did not interrupt the body read")
		}
	})
}

func TestDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	tr := New(Config{})
	defer tr.Close()
	_, err = tr.RoundTrip(mustReq(t, context.Background(), "POST", "http://"+addr, strings.NewReader("x")))
	var de DialError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want DialError", err, err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Errorf("DialError does not unwrap to the dial's *net.OpError: %v", err)
	}
}

func TestRefusedRequests(t *testing.T) {
	tr := New(Config{})
	defer tr.Close()
	cases := []struct {
		url  string
		want error
	}{
		{"https://example.com/", ErrScheme},
		{"h2c://example.com/", ErrScheme},
		{"http:///path", ErrNoHost},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			body := &closeTracker{Reader: strings.NewReader("x")}
			req := mustReq(t, context.Background(), "POST", tc.url, body)
			if _, err := tr.RoundTrip(req); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !body.closed {
				t.Error("request body not closed")
			}
		})
	}
}

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func TestDialAddr(t *testing.T) {
	cases := map[string]string{
		"example.com":      "example.com:80",
		"example.com:8080": "example.com:8080",
		"[::1]":            "[::1]:80",
		"[::1]:81":         "[::1]:81",
		"10.0.0.1":         "10.0.0.1:80",
	}
	for in, want := range cases {
		if got := dialAddr(in); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
