package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// injected is a complete response that a hostile or broken backend slips
// onto a connection past the end of the exchange it answers: a request
// that reads it as its own answer gets bytes of another exchange.
const injected = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED"

// nextAnswer is the backend's answer to every request after the first.
const nextAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"

// hostileBackend answers the first request it reads with first, verbatim,
// in one write; once released is closed it sends late on that same
// connection (if not empty), unasked. Every later request, on any
// connection, gets nextAnswer.
func hostileBackend(t *testing.T, first, late string, released <-chan struct{}) *rawServer {
	t.Helper()
	return newRawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			if n == 1 && i == 0 {
				io.WriteString(c, first)
				if late != "" {
					go func() {
						select {
						case <-released:
							io.WriteString(c, late)
						case <-time.After(waitFor):
						}
					}()
				}
				continue
			}
			io.WriteString(c, nextAnswer)
		}
	})
}

// idleReadable reports whether the connection idle in tr's pool for addr
// has something to read (bytes or EOF), consuming nothing.
func idleReadable(tr *Transport, addr string) bool {
	hp := tr.hostPool(addr)
	hp.mu.Lock()
	defer hp.mu.Unlock()
	if len(hp.idle) != 1 || hp.idle[0].raw == nil {
		return false
	}
	c := hp.idle[0]
	c.ready = false
	if err := c.raw.Control(c.readableFn); err != nil {
		return true
	}
	return c.ready
}

// TestNoByteCrossesExchanges: whatever a backend sends past the end of a
// response (in the same write, or later while the connection idles), the
// next request never reads it, and the connection it came on is closed.
// Clean exchanges of the same kinds keep their connection.
func TestNoByteCrossesExchanges(t *testing.T) {
	big := strings.Repeat("b", 64<<10)
	cases := []struct {
		name     string
		method   string
		first    string // the first answer, in one write
		late     string // sent on the connection once it idles in the pool
		wantBody string
		reuse    bool
	}{
		{"clean GET", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "", "hello", true},
		{"clean HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", "", "", true},
		{"clean chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "", "hello", true},
		{"HEAD answered with a body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n" + injected, "", "", false},
		{"HEAD whose body comes late", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", injected, "", false},
		{"body longer than its Content-Length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + injected, "", "hello", false},
		{"excess past a long body, still in the socket", "GET",
			"HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n" + big + injected, "", big, false},
		{"two responses to one request", "GET",
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + strings.Replace(injected, "200 OK", "201 Created", 1), "", "ok", false},
		{"204 with a body", "GET", "HTTP/1.1 204 No Content\r\n\r\n" + injected, "", "", false},
		{"304 with a body", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n" + injected, "", "", false},
		{"103 then 204 with a body", "GET", "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n" + injected, "", "", false},
		{"bytes after the last chunk", "GET",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + injected, "", "hello", false},
		{"bytes after the trailer", "GET",
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n" + injected, "", "hello", false},
		{"bytes arriving on the idle connection", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", injected, "ok", false},
		{"bytes arriving after a 204", "GET", "HTTP/1.1 204 No Content\r\n\r\n", injected, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !canPeek && (tc.late != "" || len(tc.first) > bufSize) {
				t.Skip("bytes left in the socket are seen only where it can be peeked at")
			}
			released := make(chan struct{})
			rs := hostileBackend(t, tc.first, tc.late, released)
			tr := New(Config{})
			defer tr.Close()
			resp, err := tr.RoundTrip(mustReq(t, context.Background(), tc.method, rs.url(), nil))
			if err != nil {
				t.Fatal(err)
			}
			var sb strings.Builder
			// io.Copy reads a long body straight into its own buffer, past
			// the read buffer: what follows the body stays in the socket.
			if _, err := io.Copy(&sb, resp.Body); err != nil {
				t.Fatalf("first body: %v", err)
			}
			resp.Body.Close()
			if sb.String() != tc.wantBody {
				t.Fatalf("first body %.40q, want %.40q", sb.String(), tc.wantBody)
			}
			close(released)
			if tc.late != "" {
				if tr.idleCount() != 1 {
					t.Fatal("the connection was not pooled before the late bytes")
				}
				eventually(t, "the late bytes to reach the idle connection", func() bool {
					return idleReadable(tr, rs.ln.Addr().String())
				})
			}
			for i := range 3 {
				resp, body := get(t, tr, rs.url())
				if strings.Contains(body, "INJECTED") || resp.StatusCode != 200 || body != "next" {
					t.Fatalf("request %d after the exchange read %d %q", i+2, resp.StatusCode, body)
				}
			}
			want := int64(2)
			if tc.reuse {
				want = 1
			}
			if n := rs.accepted.Load(); n != want {
				t.Errorf("connections = %d, want %d (reused: %v)", n, want, tc.reuse)
			}
		})
	}
}

// A response to a request whose body was not sent whole (the backend
// answered before 100 Continue, or while the upload was cut short) ends
// its connection: the backend and the transport no longer agree on where
// the next request starts.
func TestEarlyAnswerNotReused(t *testing.T) {
	cases := []struct {
		name string
		body io.Reader
		size int64
		hdr  string
	}{
		{"answer before 100 Continue", strings.NewReader("payload"), 7, "100-continue"},
		{"answer during an upload cut short", io.LimitReader(zeros{}, 64<<20), 64 << 20, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRawServer(t, func(n int, c net.Conn) {
				br := bufio.NewReader(c)
				if n == 1 {
					if _, err := http.ReadRequest(br); err != nil { // the head only
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
					if tc.hdr == "" {
						return // close with the upload unread: a reset
					}
				}
				for {
					if _, _, err := readRequest(br); err != nil {
						return
					}
					io.WriteString(c, nextAnswer)
				}
			})
			tr := New(Config{})
			defer tr.Close()
			req := mustReq(t, context.Background(), "PUT", rs.url(), tc.body)
			req.ContentLength = tc.size
			if tc.hdr != "" {
				req.Header.Set("Expect", tc.hdr)
			}
			if _, body := do(t, tr, req); body != "early" {
				t.Fatalf("body %q, want the early answer", body)
			}
			if n := tr.idleCount(); n != 0 {
				t.Fatalf("%d idle connections after an early answer, want 0", n)
			}
			if _, body := get(t, tr, rs.url()); body != "next" {
				t.Errorf("next request read %q", body)
			}
			if n := rs.accepted.Load(); n != 2 {
				t.Errorf("connections = %d, want 2", n)
			}
		})
	}
}
