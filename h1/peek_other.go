//go:build !unix

package h1

// canPeek: the socket cannot be looked at here. A connection is reused
// when nothing is buffered; a stale one is caught by RoundTrip's retry
// rules, unsolicited bytes are not.
const canPeek = false

// readable cannot look either: it reports ready, so an exchange simply
// blocks in its read.
func (c *conn) readable(fd uintptr) { c.ready = true }

// tryWrite cannot write without waiting here: it writes nothing, so the
// head is watched before it is written (conn.writeHead).
func (c *conn) tryWrite(fd uintptr) bool { return true }
