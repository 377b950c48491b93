package h1

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// countingConn counts what an exchange asks of its socket besides reads
// and writes: read deadlines set (each arms or moves a runtime timer) and
// calls into the raw descriptor other than writes (the checkout peek,
// polling).
type countingConn struct {
	net.Conn
	deadlines atomic.Int64
	raw       atomic.Int64
}

func (c *countingConn) SetReadDeadline(t time.Time) error {
	c.deadlines.Add(1)
	return c.Conn.SetReadDeadline(t)
}

func (c *countingConn) SetDeadline(t time.Time) error {
	c.deadlines.Add(1)
	return c.Conn.SetDeadline(t)
}

func (c *countingConn) SyscallConn() (syscall.RawConn, error) {
	rc, err := c.Conn.(syscall.Conn).SyscallConn()
	if err != nil {
		return nil, err
	}
	return countingRaw{rc, c}, nil
}

type countingRaw struct {
	syscall.RawConn
	c *countingConn
}

func (r countingRaw) Read(f func(uintptr) bool) error {
	r.c.raw.Add(1)
	return r.RawConn.Read(f)
}

func (r countingRaw) Control(f func(uintptr)) error {
	r.c.raw.Add(1)
	return r.RawConn.Control(f)
}

// At low load a pooled connection idles past the read deadline its last
// exchange left (the context check's, 200-250 ms by default, here 20 ms):
// taking it from the pool costs one peek and the exchange one deadline
// set (the check's new one), not a failed peek on the expired deadline, a
// deadline set to lift it, a second peek and then the new deadline.
func TestCheckoutAfterIdleDeadlineCosts(t *testing.T) {
	if !canPeek {
		t.Skip("no checkout peek here")
	}
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	var cc atomic.Pointer[countingConn]
	var d net.Dialer
	tr := New(Config{ResponseHeaderTimeout: time.Minute, // the proxy always has one
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			counted := &countingConn{Conn: c}
			cc.Store(counted)
			return counted, nil
		}})
	tr.abortCheck = 20 * time.Millisecond
	defer tr.Close()
	get(t, tr, srv.URL) // dialled: nothing to peek at
	for i := range 4 {
		time.Sleep(3 * tr.abortCheck) // idle past the check's deadline and its slack
		c := cc.Load()
		deadlines, raw := c.deadlines.Load(), c.raw.Load()
		if _, body := get(t, tr, srv.URL); body != "ok" {
			t.Fatalf("request %d: %q", i, body)
		}
		if n := c.raw.Load() - raw; n != 1 {
			t.Errorf("request %d: %d calls into the descriptor, want 1 (the checkout peek)", i, n)
		}
		if n := c.deadlines.Load() - deadlines; n != 1 {
			t.Errorf("request %d: %d read deadlines set, want 1 (the context check's)", i, n)
		}
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("%d connections, want the idle one reused each time", n)
	}
}
