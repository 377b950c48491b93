package smartproxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-smartproxy/smartproxy/forward"
)

// Upgraded connections (WebSocket and the like) outlive their request, and
// they belong to their backend's shared state rather than to one handler:
// a tunnelSet per route and backend is held across reloads like health
// records (pools.go), so a reload that keeps the backend keeps its tunnels.
// When the last config holding the backend lets go (the backend left the
// config, or the handler did), its tunnels are closed after the
// stream_close_delay of the last config that held it, and no new one joins.
var tunnelSets = newShared[*tunnelSet]("tunnels", (*tunnelSet).retire)

// tunnelSet is the live tunnels of one backend of one route.
type tunnelSet struct {
	// closeDelay is the stream_close_delay of the config that acquired
	// the set last, in nanoseconds.
	closeDelay atomic.Int64

	mu      sync.Mutex
	retired bool // no config holds the set: refuse new tunnels
	m       map[*tunnelConns]struct{}
	timer   *time.Timer // the delayed close, once retired
}

type tunnelConns struct{ client, backend io.Closer }

// acquireTunnels returns the tunnel set of backend name in route id, held
// in hs, with delay as its stream_close_delay from now on.
func acquireTunnels(hs *holds, id, name string, delay time.Duration) (*tunnelSet, error) {
	ts, err := tunnelSets.acquire(hs, stateKey{route: id, backend: name}, func() (*tunnelSet, error) {
		return new(tunnelSet), nil
	})
	if err != nil {
		return nil, err
	}
	ts.closeDelay.Store(int64(delay))
	return ts, nil
}

// add registers tc; false when the set is retired (tc must be closed).
func (t *tunnelSet) add(tc *tunnelConns) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.retired {
		return false
	}
	if t.m == nil {
		t.m = make(map[*tunnelConns]struct{})
	}
	t.m[tc] = struct{}{}
	return true
}

func (t *tunnelSet) remove(tc *tunnelConns) {
	t.mu.Lock()
	delete(t.m, tc)
	t.mu.Unlock()
}

// len is the number of live tunnels.
func (t *tunnelSet) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// retire refuses new tunnels and closes the live ones after the close
// delay (at once when it is 0): the last config holding the backend is gone.
func (t *tunnelSet) retire() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.retired {
		return nil
	}
	t.retired = true
	if d := time.Duration(t.closeDelay.Load()); d > 0 && len(t.m) > 0 {
		t.timer = time.AfterFunc(d, t.closeAll)
		return nil
	}
	t.closeAllLocked()
	return nil
}

// closeAll closes every live tunnel.
func (t *tunnelSet) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeAllLocked()
}

func (t *tunnelSet) closeAllLocked() {
	for tc := range t.m {
		tc.client.Close()
		tc.backend.Close()
	}
	t.m = nil
}

// tunnel completes a 101 Switching Protocols answer: it passes the
// backend's 101 to the client, takes over the client connection and copies
// bytes both ways until either side closes, or ts closes them.
func (h *Handler) tunnel(w http.ResponseWriter, out *http.Request, resp *http.Response, ts *tunnelSet) error {
	// A 101 the request did not ask for is the backend's fault (502), as
	// every 101 to an HTTP/2 or HTTP/3 request is: those cannot ask.
	want, got := forward.UpgradeType(out.Header), forward.UpgradeType(resp.Header)
	if want == "" || !strings.EqualFold(want, got) {
		return caddyhttp.Error(http.StatusBadGateway,
			fmt.Errorf("backend switched protocol to %q, but %q was requested", got, want))
	}
	backConn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return caddyhttp.Error(http.StatusBadGateway, errors.New("backend switched protocols but its connection is not writable"))
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
	if ts != nil { // nil only in unit tests that build pools by hand
		if !ts.add(tc) {
			clientConn.Close()
			backConn.Close()
			return nil
		}
		defer ts.remove(tc)
	}
	forward.Pipe(clientConn, brw.Reader, backConn, tunnelLinger)
	return nil
}

// tunnelLinger bounds how long a tunnel stays up once one side has ended
// its stream: the other side is told (half-close) and may finish sending,
// and then both connections are closed, whether or not it did.
const tunnelLinger = 5 * time.Second
