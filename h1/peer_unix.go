//go:build unix

package h1

import "syscall"

// peerOpen reports whether the backend's side of the connection still
// stands: a peek finds bytes or nothing yet, rather than the end of the
// stream or an error. It tells, after a transfer failed, whose side broke.
func (c *conn) peerOpen() bool {
	if c.raw == nil {
		return false
	}
	open := false
	err := c.raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = n > 0 || err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && open
}
