package smartproxy

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
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
