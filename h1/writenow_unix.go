//go:build unix

package h1

import "syscall"

// tryWrite writes c.wp once, without waiting (the runtime keeps sockets
// non-blocking, so a full send buffer answers EAGAIN): c.wn bytes went
// out; c.wErr is a failure other than EAGAIN.
func (c *conn) tryWrite(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), c.wp)
		if err == syscall.EINTR {
			continue
		}
		if n > 0 {
			c.wn = n
		}
		if err != nil && err != syscall.EAGAIN && err != syscall.EWOULDBLOCK {
			c.wErr = err
		}
		return true // never wait
	}
}
