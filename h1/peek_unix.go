//go:build unix

package h1

import (
	"syscall"
	"unsafe"
)

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

// readable runs like peek but consumes nothing (MSG_PEEK): it sets ready
// when a read would not block (bytes, EOF or an error). It is called in a
// polling loop, so it makes a raw system call: the call cannot block
// (MSG_DONTWAIT), and the runtime's syscall bookkeeping would wake its
// monitor thread on every call.
func (c *conn) readable(fd uintptr) bool {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd,
		uintptr(unsafe.Pointer(&c.peekBuf[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	c.ready = errno != syscall.EAGAIN && errno != syscall.EWOULDBLOCK
	return true // never wait for readability
}
