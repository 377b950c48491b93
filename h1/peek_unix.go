//go:build unix

package h1

// canPeek: readable can look at the socket, so a connection is checked
// for bytes or a close from the backend before it is pooled and reused.
const canPeek = true
