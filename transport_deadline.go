package smartproxy

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// rwTimeoutConn bounds each read and each write on a backend connection
// (timeouts.read, timeouts.write) while keeping the deadlines its user
// sets: the h1 transport bounds the wait for response headers, and aborts
// an exchange, through the read deadline, so each Read uses the earlier of
// that deadline and now+read. Connections get this wrapper only when read
// or write is configured; without them nothing is wrapped.
type rwTimeoutConn struct {
	net.Conn
	read, write time.Duration
	// The deadlines the user set, as Unix nanoseconds (0: none).
	readAt, writeAt atomic.Int64
}

// withRWTimeouts wraps dial so its connections bound each read and write;
// it returns dial itself when both are 0.
func withRWTimeouts(dial func(context.Context, string, string) (net.Conn, error), read, write time.Duration) func(context.Context, string, string) (net.Conn, error) {
	if read <= 0 && write <= 0 {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wrapRWTimeouts(c, read, write), nil
	}
}

// wrapRWTimeouts returns c bounded by read and write; c itself when both
// are 0. A connection with a raw descriptor keeps it visible
// (syscall.Conn), so readiness checks on it still work.
func wrapRWTimeouts(c net.Conn, read, write time.Duration) net.Conn {
	if read <= 0 && write <= 0 {
		return c
	}
	w := &rwTimeoutConn{Conn: c, read: read, write: write}
	if _, ok := c.(syscall.Conn); ok {
		return &rwTimeoutSyscallConn{w}
	}
	return w
}

// rwTimeoutSyscallConn is an rwTimeoutConn over a connection with a file
// descriptor.
type rwTimeoutSyscallConn struct{ *rwTimeoutConn }

func (c *rwTimeoutSyscallConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// bound is the deadline for one operation: the earlier of the user's
// (at, 0 for none) and now+d.
func bound(at int64, d time.Duration) time.Time {
	op := time.Now().Add(d)
	if at != 0 && at < op.UnixNano() {
		return time.Unix(0, at)
	}
	return op
}

func (c *rwTimeoutConn) Read(p []byte) (int, error) {
	if c.read > 0 {
		at := c.readAt.Load()
		c.Conn.SetReadDeadline(bound(at, c.read))
		// A deadline set meanwhile (an abort from another goroutine) must
		// not be lost under ours.
		if now := c.readAt.Load(); now != at {
			c.Conn.SetReadDeadline(bound(now, c.read))
		}
	}
	return c.Conn.Read(p)
}

func (c *rwTimeoutConn) Write(p []byte) (int, error) {
	if c.write > 0 {
		at := c.writeAt.Load()
		c.Conn.SetWriteDeadline(bound(at, c.write))
		if now := c.writeAt.Load(); now != at {
			c.Conn.SetWriteDeadline(bound(now, c.write))
		}
	}
	return c.Conn.Write(p)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if n := t.UnixNano(); n != 0 {
		return n
	}
	return 1 // the zero instant itself: long past, and not "none"
}

func (c *rwTimeoutConn) SetDeadline(t time.Time) error {
	c.readAt.Store(unixNano(t))
	c.writeAt.Store(unixNano(t))
	return c.Conn.SetDeadline(t)
}

func (c *rwTimeoutConn) SetReadDeadline(t time.Time) error {
	c.readAt.Store(unixNano(t))
	return c.Conn.SetReadDeadline(t)
}

func (c *rwTimeoutConn) SetWriteDeadline(t time.Time) error {
	c.writeAt.Store(unixNano(t))
	return c.Conn.SetWriteDeadline(t)
}
