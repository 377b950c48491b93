//go:build !unix

package h1

// peerOpen cannot look at the socket here: a failed transfer is taken for
// the backend's failure.
func (c *conn) peerOpen() bool { return false }
