//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package h1

import (
	"syscall"
	"unsafe"
)

// readable looks without consuming (MSG_PEEK), for RawConn.Control: it
// sets ready when a read would not block (bytes, EOF or an error). It is
// called in a polling loop, so it makes a raw system call: the call
// cannot block (MSG_DONTWAIT), and the runtime's syscall bookkeeping
// would wake its monitor thread on every call.
func (c *conn) readable(fd uintptr) {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd,
		uintptr(unsafe.Pointer(&c.peekBuf[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	c.ready = errno != syscall.EAGAIN && errno != syscall.EWOULDBLOCK
}
