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
		done := make(chan error, 1)
		go func() {
			resp, err := tr.RoundTrip(req)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			done <- err
		}()
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
