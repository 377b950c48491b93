//go:build unix

package h1

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A hostile backend answers every request without reading it: the heads,
// each smaller than the write buffer, pile up unread in the socket
// buffers until one's write blocks. The client of that request leaving
// must end it (the head goes out without waiting first, and what does
// not is written with the context watched), and every request before it
// gets its answer.
func TestContextEndWakesHeadWriteOnUnreadHeads(t *testing.T) {
	var backend atomic.Pointer[net.Conn]
	stop := make(chan struct{})
	rs := newRawServer(t, func(_ int, c net.Conn) {
		c.(*net.TCPConn).SetReadBuffer(4 << 10) // fills sooner
		backend.Store(&c)
		<-stop // reads nothing; the test answers on c
	})
	t.Cleanup(func() { close(stop) }) // runs before rs's cleanup
	// The sockets' buffers small, so that a few heads fill them.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4<<10)
		})
	}}
	tr := New(Config{DialContext: d.DialContext})
	tr.abortCheck = time.Hour // only a watcher can notice in time
	defer tr.Close()
	pad := strings.Repeat("a", 3<<10)
	for i := 0; i < 500; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		req := mustReq(t, ctx, http.MethodGet, rs.url(), nil)
		req.Header.Set("X-Pad", pad)
		done := roundTripAsync(tr, req)
		eventually(t, "the connection", func() bool { return backend.Load() != nil })
		// Answered once the head was (or began to be) written: an answer
		// before the checkout would be taken for stray bytes.
		time.Sleep(20 * time.Millisecond)
		io.WriteString(*backend.Load(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		select {
		case err := <-done:
			cancel()
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			continue
		case <-time.After(100 * time.Millisecond): // its head's write blocks
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "writing request") {
				t.Errorf("request %d: err = %v, want context.Canceled while writing the request", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d: its head's write blocked on unread heads, and its client's leaving was not noticed", i)
		}
		if n := rs.accepted.Load(); n != 1 {
			t.Errorf("%d connections, want every request on the one whose heads pile up", n)
		}
		return
	}
	t.Fatal("no head's write blocked: the test tests nothing")
}

// perWriteConn bounds each write by its own deadline, as the proxy's
// timeouts.write wrapper does: the last write's stays on the socket and
// expires while the connection idles.
type perWriteConn struct {
	net.Conn
	d time.Duration
}

func (c *perWriteConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.d))
	return c.Conn.Write(p)
}

func (c *perWriteConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// Under a per-write timeout, the deadline of a request body's last write
// stays on the socket and has expired when the pooled connection carries
// its next request; the head's write without waiting fails on it without
// writing: the deadline is lifted and the write tried again, so a
// bodiless request after a POST and a pause is no more watched (a watcher
// costs allocations) than without the timeout.
func TestHeadWriteAfterExpiredWriteDeadline(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	url := benchServer(t)
	pair := func(perWrite time.Duration) float64 {
		var d net.Dialer
		tr := New(Config{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil || perWrite == 0 {
				return c, err
			}
			return &perWriteConn{Conn: c, d: perWrite}, nil
		}})
		defer tr.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		get := mustReq(t, ctx, "GET", url, nil)
		get.Header.Set("User-Agent", "")
		round := func(req *http.Request) {
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return testing.AllocsPerRun(20, func() {
			round(mustReq(t, ctx, "POST", url, strings.NewReader("x"))) // written by the connection's Write
			time.Sleep(3 * time.Millisecond)                            // past that write's deadline
			round(get)
		})
	}
	// The failed attempt's error is one allocation; a watcher is three.
	plain, bounded := pair(0), pair(time.Millisecond)
	if bounded > plain+1 {
		t.Errorf("a POST then a GET: %.1f allocations under a per-write timeout, %.1f without: the GET was watched", bounded, plain)
	}
}
