package caddytest

import (
	"net"
	"syscall"
	"time"
	"unsafe"
)

// tcpEstablished is TCP_ESTABLISHED, tcp_info's state of an open
// connection.
const tcpEstablished = 1

// awaitAcked waits, up to d, until every byte written on nc is
// acknowledged by its peer, or the connection is no longer established
// (the peer closed or reset it: it reads nothing more). Acknowledged bytes
// are in the peer's receive queue, readable there; a loopback write can
// return before the peer's stack has taken the segment in, when softirqs
// are deferred under load. It reports false only when d passed first; on
// a connection it cannot ask, it reports true at once.
func awaitAcked(nc net.Conn, d time.Duration) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	end := time.Now().Add(d)
	for {
		var outq int32
		var info syscall.TCPInfo
		var errno syscall.Errno
		if raw.Control(func(fd uintptr) {
			size := uint32(unsafe.Sizeof(info))
			_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
				uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
			if errno == 0 {
				_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&outq)))
			}
		}) != nil || errno != 0 || info.State != tcpEstablished || outq == 0 {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}
