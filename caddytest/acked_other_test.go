//go:build !linux

package caddytest

import (
	"net"
	"time"
)

// awaitAcked is a no-op where the unacknowledged bytes of a socket cannot
// be asked for (see acked_linux_test.go).
func awaitAcked(net.Conn, time.Duration) bool { return true }
