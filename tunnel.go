package smartproxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-smartproxy/smartproxy/forward"
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
	want, got := forward.UpgradeType(out.Header), forward.UpgradeType(resp.Header)
	if want == "" || !strings.EqualFold(want, got) {
		return fmt.Errorf("backend switched protocol to %q, but %q was requested", got, want)
	}
	backConn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return errors.New("backend switched protocols but its connection is not writable")
	}
	forward.RemoveHopHeaders(resp.Header)
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
	forward.Pipe(clientConn, brw.Reader, backConn, tunnelLinger)
	return nil
}

// tunnelLinger bounds how long a tunnel stays up once one side has ended
// its stream: the other side is told (half-close) and may finish sending,
// and then both connections are closed, whether or not it did.
const tunnelLinger = 5 * time.Second
