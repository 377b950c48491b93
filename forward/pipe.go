package forward

import (
	"bufio"
	"errors"
	"io"
	"net"
	"time"
)

// errNoHalfClose ends a direction whose destination cannot be half-closed:
// the peer would never learn that the stream ended, so the tunnel ends.
var errNoHalfClose = errors.New("connection cannot be half-closed")

// Pipe copies bytes both ways between the client's connection and the
// backend's, for a protocol upgrade (WebSocket and the like). Bytes the
// server already read past the request's headers belong to the new
// protocol: they are read through clientBuf.
//
// When one side ends its stream cleanly, the other side's write half is
// closed (CloseWrite, where the connection has one) so it learns of the
// end, and it gets linger to end its own; any error, a connection that
// cannot be half-closed, or the end of the linger closes both connections.
// Pipe returns only when both copies have stopped, so nothing outlives it.
func Pipe(client net.Conn, clientBuf *bufio.Reader, back io.ReadWriteCloser, linger time.Duration) {
	done := make(chan error, 2)
	go func() { done <- copyHalf(back, clientBuf) }()
	go func() { done <- copyHalf(client, back) }()
	pending := 2
	err := <-done
	pending--
	if err == nil {
		t := time.NewTimer(linger)
		select {
		case <-done:
			pending--
		case <-t.C:
		}
		t.Stop()
	}
	client.Close()
	back.Close()
	for ; pending > 0; pending-- {
		<-done
	}
}

// copyHalf copies src to dst until src ends, then half-closes dst. It
// returns nil only when the end was clean and passed on.
func copyHalf(dst io.Writer, src io.Reader) error {
	if _, err := io.Copy(dst, src); err != nil {
		return err
	}
	cw, ok := dst.(interface{ CloseWrite() error })
	if !ok {
		return errNoHalfClose
	}
	return cw.CloseWrite()
}
