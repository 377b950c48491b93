//go:build !unix

package h1

// peek cannot look at the socket here: the connection is presumed alive,
// and a stale one is caught by RoundTrip's retry rules.
func (c *conn) peek(fd uintptr) bool { return true }

// readable cannot look either: it reports ready, so an exchange simply
// blocks in its read.
func (c *conn) readable(fd uintptr) bool { c.ready = true; return true }
