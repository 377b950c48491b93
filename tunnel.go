package smartproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// tunnels tracks the connections of live protocol upgrades (WebSocket and
// the like), which outlive their request: Cleanup closes them so no
// goroutine outlives the handler's config.
type tunnels struct {
	mu     sync.Mutex
	closed bool
	m      map[*tunnelConns]struct{}
}

type tunnelConns struct{ client, backend io.Closer }

func (t *tunnels) add(tc *tunnelConns) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if t.m == nil {
		t.m = make(map[*tunnelConns]struct{})
	}
	t.m[tc] = struct{}{}
	return true
}

func (t *tunnels) remove(tc *tunnelConns) {
	t.mu.Lock()
	delete(t.m, tc)
	t.mu.Unlock()
}

// closeAll closes every live tunnel and refuses new ones.
func (t *tunnels) closeAll() {
	t.mu.Lock()
	t.closed = true
	m := t.m
	t.m = nil
	t.mu.Unlock()
	for tc := range m {
		tc.client.Close()
		tc.backend.Close()
	}
}

// tunnel completes a 101 Switching Protocols answer: it passes the
// backend's 101 to the client, takes over the client connection and copies
// bytes both ways until either side closes.
func (h *Handler) tunnel(w http.ResponseWriter, out *http.Request, resp *http.Response) error {
	want, got := upgradeType(out.Header), upgradeType(resp.Header)
	if want == "" || !strings.EqualFold(want, got) {
		return fmt.Errorf("backend switched protocol to %q, but %q was requested", got, want)
	}
	backConn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return errors.New("backend switched protocols but its connection is not writable")
	}
	removeHopHeaders(resp.Header)
	hdr := w.Header()
	for k, vv := range resp.Header {
		hdr[k] = vv
	}
	hdr["Connection"] = []string{"Upgrade"}
	hdr["Upgrade"] = []string{got}
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusSwitchingProtocols)
	if err := rc.Flush(); err != nil {
		backConn.Close()
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("flushing 101 response: %v", err))
	}
	clientConn, brw, err := rc.Hijack()
	if err != nil {
		backConn.Close()
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("taking over client connection: %v", err))
	}
	tc := &tunnelConns{client: clientConn, backend: backConn}
	if !h.tunnels.add(tc) {
		clientConn.Close()
		backConn.Close()
		return nil
	}
	defer h.tunnels.remove(tc)
	pipe(clientConn, brw.Reader, backConn)
	return nil
}

// tunnelLinger bounds how long a tunnel stays up once one side has ended
// its stream: the other side is told (half-close) and may finish sending,
// and then both connections are closed, whether or not it did.
const tunnelLinger = 5 * time.Second

// errNoHalfClose ends a direction whose destination cannot be half-closed:
// the peer would never learn that the stream ended, so the tunnel ends.
var errNoHalfClose = errors.New("connection cannot be half-closed")

// pipe copies bytes both ways between the client and the backend. When one
// side ends its stream cleanly, the other side's write half is closed
// (CloseWrite, where the connection has one) so it learns of the end, and it
// gets tunnelLinger to end its own; any error, a connection that cannot be
// half-closed, or the end of the linger closes both connections. pipe
// returns only when both copies have stopped, so nothing outlives it.
func pipe(client net.Conn, clientBuf *bufio.Reader, back io.ReadWriteCloser) {
	done := make(chan error, 2)
	// Bytes the server already read past the request headers belong to
	// the new protocol: they are read through clientBuf.
	go func() { done <- copyHalf(back, clientBuf) }()
	go func() { done <- copyHalf(client, back) }()
	pending := 2
	err := <-done
	pending--
	if err == nil {
		linger := time.NewTimer(tunnelLinger)
		select {
		case <-done:
			pending--
		case <-linger.C:
		}
		linger.Stop()
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
