//go:build unix

package h1

import "syscall"

// peek runs on the idle connection's socket (through RawConn.Read, which
// holds the read lock): one non-blocking read. EAGAIN means nothing
// arrived, so the connection is alive; EOF means the backend closed it;
// bytes mean the backend sent something unasked, which makes the stream
// unusable either way.
func (c *conn) peek(fd uintptr) bool {
	_, err := syscall.Read(int(fd), c.peekBuf[:])
	c.dead = err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
	return true // never wait for readability
}
