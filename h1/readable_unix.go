//go:build unix && !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package h1

import "syscall"

// readable looks without consuming (MSG_PEEK), for RawConn.Control: it
// sets ready when a read would not block (bytes, EOF or an error). The
// socket is in non-blocking mode (the runtime's poller needs it), so the
// call returns EAGAIN rather than wait.
func (c *conn) readable(fd uintptr) {
	_, _, err := syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK)
	c.ready = err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
