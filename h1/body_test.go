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
	"testing"
	"time"
)

// TestResponseFraming checks, per kind of response, the body the caller
// reads and whether the connection served the next request.
func TestResponseFraming(t *testing.T) {
	cases := []struct {
		name     string
		method   string
		raw      string // the first response, verbatim
		wantBody string
		wantConn int64 // connections used by this and one more request
	}{
		{"content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello", 1},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", "hello", 1},
		{"empty", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "", 1},
		{"HEAD with length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", "", 1},
		{"204", "GET", "HTTP/1.1 204 No Content\r\n\r\n", "", 1},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "", 1},
		{"close-delimited", "GET", "HTTP/1.1 200 OK\r\n\r\nhello", "hello", 2},
		{"connection close", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello", "hello", 2},
		{"HTTP/1.0", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello", 2},
		{"HTTP/1.0 keep-alive", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello", "hello", 1},
		{"103 then 200", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRawServer(t, func(n int, c net.Conn) {
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					if _, _, err := readRequest(br); err != nil {
						return
					}
					if n == 1 && i == 0 {
						io.WriteString(c, tc.raw)
						if strings.Contains(tc.raw, "Connection: close") || tc.name == "close-delimited" ||
							strings.HasPrefix(tc.raw, "HTTP/1.0 200 OK\r\nContent") {
							return
						}
						continue
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
				}
			})
			tr := New(Config{})
			defer tr.Close()
			_, body := do(t, tr, mustReq(t, context.Background(), tc.method, rs.url(), nil))
			if body != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
			if _, next := get(t, tr, rs.url()); next != "next" {
				t.Errorf("second body %q", next)
			}
			if n := rs.accepted.Load(); n != tc.wantConn {
				t.Errorf("connections = %d, want %d", n, tc.wantConn)
			}
		})
	}
}

func TestTrailers(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "part1")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part2")
		w.Header().Set("X-Sum", "42")
	}))
	tr := New(Config{})
	defer tr.Close()
	for i := range 2 {
		resp, body := get(t, tr, srv.URL)
		if body != "part1part2" {
			t.Errorf("body %q", body)
		}
		if got := resp.Trailer.Get("X-Sum"); got != "42" {
			t.Errorf("request %d: trailer X-Sum = %q, want 42", i, got)
		}
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("connections = %d, want 1", n)
	}
}

func TestInterimTrace(t *testing.T) {
	rs := newRawServer(t, func(n int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"+
			"HTTP/1.1 103 Early Hints\r\nLink: </b.js>\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	tr := New(Config{})
	defer tr.Close()
	var links []string
	ctx := withGot1xx(context.Background(), func(code int, h map[string][]string) {
		links = append(links, fmt.Sprint(code, h["Link"]))
	})
	resp, body := do(t, tr, mustReq(t, ctx, "GET", rs.url(), nil))
	if resp.StatusCode != 200 || body != "ok" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if want := "[103 [</a.css>] 103 [</b.js>]]"; fmt.Sprint(links) != want {
		t.Errorf("interim responses seen %v, want %s", links, want)
	}
}

func TestTooManyInterim(t *testing.T) {
	rs := newRawServer(t, func(n int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		for range maxInterim + 2 {
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\n\r\n")
		}
	})
	tr := New(Config{})
	defer tr.Close()
	_, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", rs.url(), nil))
	if err == nil || !strings.Contains(err.Error(), ErrTooManyInterim.Error()) {
		t.Errorf("err = %v, want %v", err, ErrTooManyInterim)
	}
}

// A status below 100 is refused at once: neither interim nor final, it
// was skipped as a 1xx, and the body read as the next head, the request
// waiting on a connection the backend keeps open. So too while a request
// waits for 100 Continue (the backend answers its head alone).
func TestStatusBelow100Refused(t *testing.T) {
	for _, code := range []string{"099", "000", "001"} {
		for _, expect := range []bool{false, true} {
			rs := newRawServer(t, func(n int, c net.Conn) {
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 "+code+" Odd\r\nContent-Length: 2\r\n\r\nok")
				c.Read(make([]byte, 1)) // keep the connection open
			})
			tr := New(Config{ResponseHeaderTimeout: 5 * time.Second, ExpectContinueTimeout: 2 * time.Second})
			req := mustReq(t, context.Background(), "GET", rs.url(), nil)
			if expect {
				req = mustReq(t, context.Background(), "PUT", rs.url(), strings.NewReader("payload"))
				req.Header.Set("Expect", "100-continue")
			}
			_, err := tr.RoundTrip(req)
			if !errors.Is(err, ErrStatus) {
				t.Errorf("status %s, expect %v: err = %v, want ErrStatus", code, expect, err)
			}
			tr.Close()
		}
	}
}

func TestEarlyCloseClosesConn(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 64<<10))
	}))
	tr := New(Config{})
	defer tr.Close()
	resp, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", srv.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp.Body.Close() // a second Close is harmless
	if _, err := resp.Body.Read(buf); err != ErrBodyClosed {
		t.Errorf("read after Close: %v, want ErrBodyClosed", err)
	}
	if n := tr.idleCount(); n != 0 {
		t.Errorf("a body closed early left %d idle connections", n)
	}
	get(t, tr, srv.URL)
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("connections = %d, want 2", n)
	}
}

func TestUpgrade(t *testing.T) {
	rs := newRawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		req, _, err := readRequest(br)
		if err != nil || req.Header.Get("Upgrade") != "echo" {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		// The greeting comes in the same write as the 101, so the client
		// buffers it with the headers.
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nHELLO")
		io.Copy(c, br)
	})
	tr := New(Config{})
	defer tr.Close()
	req := mustReq(t, context.Background(), "GET", rs.url(), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("101 body %T is not an io.ReadWriteCloser", resp.Body)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(rwc, buf); err != nil || string(buf) != "HELLO" {
		t.Fatalf("greeting %q, %v", buf, err)
	}
	for _, msg := range []string{"ping", "pong!"} {
		if _, err := io.WriteString(rwc, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(rwc, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q, %v; want %q", got, err, msg)
		}
	}
	rwc.Close()
	if n := tr.idleCount(); n != 0 {
		t.Errorf("an upgraded connection went back to the pool (%d idle)", n)
	}
}

// TestEarlyAnswerDuringUpload: a backend that refuses a large upload
// answers and closes before reading it; the caller gets that answer,
// not the write error.
func TestEarlyAnswerDuringUpload(t *testing.T) {
	rs := newRawServer(t, func(n int, c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Request Entity Too Large\r\nConnection: close\r\nContent-Length: 8\r\n\r\ntoo big!")
		// The deferred close, with the body unread, resets the connection.
	})
	tr := New(Config{})
	defer tr.Close()
	big := io.LimitReader(zeros{}, 64<<20)
	resp, body := do(t, tr, mustReq(t, context.Background(), "POST", rs.url(), big))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || body != "too big!" {
		t.Errorf("got %d %q, want the backend's 413", resp.StatusCode, body)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestHeaderLimit(t *testing.T) {
	rs := newRawServer(t, func(n int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		for {
			if _, err := io.WriteString(c, "X-Junk: "+strings.Repeat("j", 1000)+"\r\n"); err != nil {
				return // endless headers, until the client hangs up
			}
		}
	})
	tr := New(Config{MaxResponseHeaderBytes: 64 << 10})
	defer tr.Close()
	_, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", rs.url(), nil))
	if !errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("err = %v, want ErrHeaderTooLarge", err)
	}
}
