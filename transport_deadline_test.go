package smartproxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/h1"
)

// TestRWTimeoutConn: each read is bounded by the configured read timeout,
// and a deadline the user sets (the h1 transport's header timeout, or its
// abort, a deadline in the past) still wins when it is earlier.
func TestRWTimeoutConn(t *testing.T) {
	for _, tc := range []struct {
		name     string
		read     time.Duration
		deadline time.Time // set by the user before the read; zero: none
		within   time.Duration
	}{
		{"read timeout alone", 50 * time.Millisecond, time.Time{}, time.Second},
		{"an abort wins over a long read timeout", time.Hour, time.Unix(1, 0), time.Second},
		{"an earlier user deadline wins", time.Hour, time.Now().Add(50 * time.Millisecond), time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			c := wrapRWTimeouts(a, tc.read, 0)
			if !tc.deadline.IsZero() {
				c.SetReadDeadline(tc.deadline)
			}
			begin := time.Now()
			_, err := c.Read(make([]byte, 1))
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read: %v, want a deadline error", err)
			}
			if took := time.Since(begin); took > tc.within {
				t.Fatalf("read returned after %v", took)
			}
		})
	}
	// Without timeouts nothing is wrapped; with them a connection with a
	// descriptor keeps it visible.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if wrapRWTimeouts(a, 0, 0) != a {
		t.Fatal("a connection was wrapped with no timeouts configured")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, ok := wrapRWTimeouts(tc, time.Second, 0).(syscall.Conn); !ok {
		t.Fatal("the wrapped TCP connection hides its descriptor")
	}
}

// TestRWTimeoutConnKeepsPooledConnections: under timeouts.read, the last
// read of an exchange leaves the wrapper's per-read deadline on the
// socket, expired once the connection idles longer than that. The h1
// checkout peek fails on it, whatever deadline the transport itself
// recorded (none after an exchange whose context was watched, a POST):
// the deadline is lifted and the peek tried again, so the idle connection
// is reused, not closed and dialled again on every request after a pause.
func TestRWTimeoutConnKeepsPooledConnections(t *testing.T) {
	var accepted atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, r.Method)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	var d net.Dialer
	tr := h1.New(h1.Config{DialContext: withRWTimeouts(d.DialContext, 20*time.Millisecond, 0)})
	defer tr.Close()
	for _, method := range []string{"POST", "GET", "POST", "GET"} {
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("x")
		}
		req, err := http.NewRequest(method, srv.URL, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != method {
			t.Fatalf("%s: %q, %v", method, b, err)
		}
		time.Sleep(50 * time.Millisecond) // idle past the per-read timeout
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections for 4 exchanges with pauses, want the idle one reused", n)
	}
}
