//go:build unix

package h1

// canPeek: readable can look at the socket, so a connection taken from
// the pool is checked for bytes or a close from the backend before reuse.
const canPeek = true
