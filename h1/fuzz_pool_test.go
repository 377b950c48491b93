//go:build unix

package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// firstAnswerConn is a real loopback connection to a backend that answers
// the first request with known bytes, total of them. A read past them,
// before the next request is written, returns EOF as if the backend had
// closed, so a response that needs more than it was given ends at once
// instead of waiting. The socket itself stays open: a connection reused
// after the first answer meets the backend's next answer, or whatever of
// the first was left on it. Its first read waits until all total bytes
// have arrived, so a check for leftovers never runs before they are in.
type firstAnswerConn struct {
	*net.TCPConn
	total, left int
	state       int // 0: writing the first request, 1: reading its answer, 2: later
}

func (c *firstAnswerConn) Read(p []byte) (int, error) {
	switch c.state {
	case 0:
		c.state = 1
		c.awaitArrival()
		fallthrough
	case 1:
		if c.left == 0 {
			return 0, io.EOF
		}
		if len(p) > c.left {
			p = p[:c.left]
		}
		n, err := c.TCPConn.Read(p)
		c.left -= n
		return n, err
	}
	return c.TCPConn.Read(p)
}

func (c *firstAnswerConn) Write(p []byte) (int, error) {
	if c.state == 1 {
		c.state = 2
	}
	return c.TCPConn.Write(p)
}

// awaitArrival waits, bounded, until the socket holds all total bytes.
func (c *firstAnswerConn) awaitArrival() {
	raw, err := c.SyscallConn()
	if err != nil || c.total == 0 {
		return
	}
	buf := make([]byte, c.total)
	end := time.Now().Add(waitFor)
	for time.Now().Before(end) {
		var n int
		raw.Read(func(fd uintptr) bool {
			n, _, _ = syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK)
			return true
		})
		if n >= c.total {
			return
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// FuzzPoolInvariant: whatever bytes a backend answers one request with,
// no byte of them reaches another exchange. The fuzzed bytes answer a GET
// or HEAD; the next GET on the same transport, on whichever connection it
// goes, must get exactly the backend's next answer.
func FuzzPoolInvariant(f *testing.F) {
	const (
		ok5      = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
		chunked5 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	)
	for _, seed := range []struct {
		head bool
		raw  string
	}{
		{false, ok5},
		{false, chunked5},
		{true, "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n"},
		{true, "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n" + injected},
		{false, ok5 + injected},
		{false, ok5 + ok5},
		{false, "HTTP/1.1 204 No Content\r\n\r\n" + injected},
		{false, "HTTP/1.1 304 Not Modified\r\nContent-Length: 8\r\n\r\n" + injected},
		{false, chunked5 + injected},
		{false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n" + injected},
		{false, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + injected},
		{false, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + injected},
		{false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{false, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello"},
		{false, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello" + injected},
		{false, "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" + ok5 + injected},
		{false, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n" + injected},
		{false, "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello\n"},
		{false, "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello"},
		{false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nfffffffffffffffff\r\n"},
		{false, "HTTP/1.1 200 OK\r\n\r\nclose-delimited" + injected},
		{false, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"},
		{false, ""},
	} {
		f.Add(seed.head, seed.raw)
	}
	f.Fuzz(func(t *testing.T, head bool, raw string) {
		if len(raw) > 16<<10 {
			t.Skip("larger than a loopback socket is sure to hold at once")
		}
		rs := newRawServer(t, func(n int, c net.Conn) {
			br := bufio.NewReader(c)
			for i := 0; ; i++ {
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				if n == 1 && i == 0 {
					io.WriteString(c, raw)
					continue
				}
				io.WriteString(c, nextAnswer)
			}
		})
		var d net.Dialer
		dials := 0
		tr := New(Config{
			ResponseHeaderTimeout: waitFor,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				tc := c.(*net.TCPConn)
				tc.SetLinger(0) // no TIME_WAIT: a fuzz run dials by the ten thousand
				if dials++; dials > 1 {
					return tc, nil
				}
				return &firstAnswerConn{TCPConn: tc, total: len(raw), left: len(raw)}, nil
			},
		})
		defer tr.Close()
		method := "GET"
		if head {
			method = "HEAD"
		}
		resp, err := tr.RoundTrip(mustReq(t, context.Background(), method, rs.url(), nil))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		resp, err = tr.RoundTrip(mustReq(t, context.Background(), "GET", rs.url(), nil))
		if err != nil {
			t.Fatalf("the next request failed: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(b) != "next" || len(resp.Header) != 1 {
			t.Fatalf("the next request read %d %v %q (%v), want the backend's next answer", resp.StatusCode, resp.Header, b, err)
		}
	})
}
