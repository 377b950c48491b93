package h1

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// scriptConn is a backend connection in memory that answers with parts,
// in order, and between two parts times a read out, as the kernel does,
// only if a read deadline is set (it waits for it to pass first; one
// further off than a millisecond, never met here, is taken for none).
// What is written to it is discarded.
type scriptConn struct {
	parts    [][]byte
	cur      []byte
	pending  bool // a timeout is due before the next part
	deadline time.Time
}

func (c *scriptConn) Read(p []byte) (int, error) {
	for len(c.cur) == 0 {
		if c.pending {
			c.pending = false
			if !c.deadline.IsZero() && time.Until(c.deadline) < time.Millisecond {
				for time.Now().Before(c.deadline) {
				}
				return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
			}
		}
		if len(c.parts) == 0 {
			return 0, io.EOF
		}
		c.cur, c.parts = c.parts[0], c.parts[1:]
		c.pending = len(c.parts) > 0
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

func (c *scriptConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *scriptConn) Close() error                       { return nil }
func (c *scriptConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *scriptConn) SetDeadline(t time.Time) error      { c.deadline = t; return nil }
func (c *scriptConn) SetReadDeadline(t time.Time) error  { c.deadline = t; return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

// timerOutcome runs an exchange against a backend that answers with
// parts, and sums up what the caller got: a bodiless GET, whose timer is
// the context check's, or else a PUT with "Expect: 100-continue", whose
// timer is the wait for 100 Continue's. Either timer is set to have
// passed by any timeout the backend's script makes.
func timerOutcome(t *testing.T, bodiless bool, parts ...[]byte) string {
	tr := New(Config{ExpectContinueTimeout: time.Nanosecond,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return &scriptConn{parts: parts}, nil
		}})
	tr.abortCheck = time.Nanosecond
	defer tr.Close()
	req := mustReq(t, context.Background(), "GET", "http://backend.test/", nil)
	if !bodiless {
		req = mustReq(t, context.Background(), "PUT", "http://backend.test/", strings.NewReader("payload"))
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		// The step differs when the body went first (a timer at a
		// head's start is silence): what failed may not.
		msg := strings.Replace(err.Error(), "awaiting 100 Continue", "reading response", 1)
		return "error: " + msg
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return fmt.Sprintf("%d %v %q %v", resp.StatusCode, resp.Header, b, err)
}

// FuzzTimerSplit: a timer that is not final (the wait for 100 Continue's,
// the context check's of a bodiless request), fired at any point of the
// backend's answer (before it, inside a head, between two, in the body),
// changes nothing of what the caller gets: no byte read before it is lost
// or parsed twice, and a head cut by it is not parsed as it stands. The
// answer is compared with the same bytes delivered with no timer firing.
func FuzzTimerSplit(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\npayload",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\n\r\nno",
		"HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 1\r\n\r\n!",
		"HTTP/1.1 200 OK\r\nCont",
		"HTTP/1.0 200 OK\r\n\r\nto the end",
	} {
		for _, k := range []int{0, 5, 17, 25, 40} {
			f.Add(seed, uint16(k), false)
			f.Add(seed, uint16(k), true)
		}
	}
	// A head that begins in the read that ended the one before it.
	f.Add("HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", uint16(45), false)
	f.Add("HTTP/0.0 000 0\n\n0000", uint16(19), false)
	// A status below 100, refused whichever loop reads it.
	f.Add("HTTP/0.0 000\n\n", uint16(0), false)
	f.Fuzz(func(t *testing.T, answer string, at uint16, bodiless bool) {
		if len(answer) > 64<<10 {
			return
		}
		k := int(at) % (len(answer) + 1)
		whole := timerOutcome(t, bodiless, []byte(answer))
		split := timerOutcome(t, bodiless, []byte(answer[:k]), []byte(answer[k:]))
		if split != whole {
			t.Fatalf("answer %q, bodiless %v, timer after %d bytes:\n got  %s\n want %s", answer, bodiless, k, split, whole)
		}
	})
}
