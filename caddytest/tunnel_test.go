package caddytest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// Tunnels (WebSocket) must end on both sides when either side leaves, and
// take with them every goroutine, socket and in-flight count they held.

// wsBackend is a WebSocket backend that greets each connection with
// "hello" and then runs serve; open counts its live connections.
type wsBackend struct {
	*backend
	open atomic.Int64
}

func newWSBackend(t *testing.T, serve func(*websocket.Conn)) *wsBackend {
	t.Helper()
	wb := &wsBackend{}
	wb.backend = newBackend(t, "ws", websocket.Handler(func(c *websocket.Conn) {
		wb.open.Add(1)
		defer wb.open.Add(-1)
		if websocket.Message.Send(c, "hello") != nil {
			return
		}
		serve(c)
	}).ServeHTTP)
	return wb
}

// readUntilGone reads frames until the connection ends.
func readUntilGone(c *websocket.Conn) {
	var s string
	for websocket.Message.Receive(c, &s) == nil {
	}
}

// wsTunnel is one client connection through the proxy, with the raw
// socket under it so a test can drop it without a close frame.
type wsTunnel struct {
	ws *websocket.Conn
	nc net.Conn
}

func openTunnel(t *testing.T) wsTunnel {
	t.Helper()
	cfg, err := websocket.NewConfig("ws://"+proxyAddr+"/ws", "http://"+proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", proxyAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	ws, err := websocket.NewClient(cfg, nc)
	if err != nil {
		nc.Close()
		t.Fatalf("websocket handshake through the proxy: %v", err)
	}
	var hello string
	if err := websocket.Message.Receive(ws, &hello); err != nil || hello != "hello" {
		nc.Close()
		t.Fatalf("greeting through the tunnel: %q, %v", hello, err)
	}
	nc.SetDeadline(time.Time{})
	return wsTunnel{ws, nc}
}

// tunnelCounters is what a live tunnel holds, as seen from outside.
type tunnelCounters struct {
	goroutines, fds int
	backendOpen     int64
	statusInFlight  int64
	metricInFlight  float64
}

func readTunnelCounters(t *testing.T, wb *wsBackend) tunnelCounters {
	t.Helper()
	runtime.GC()
	c := tunnelCounters{goroutines: runtime.NumGoroutine(), fds: openFDs(t), backendOpen: wb.open.Load()}
	var doc statusDoc
	if err := json.Unmarshal(adminGet(t, "/smartproxy/status"), &doc); err != nil {
		t.Fatalf("status document: %v", err)
	}
	for _, rt := range doc.Routes {
		for _, b := range rt.Backends {
			c.statusInFlight += b.InFlight
		}
	}
	// -1: no in-flight sample for the backend in this scrape.
	c.metricInFlight = -1
	for _, line := range strings.Split(string(adminGet(t, "/metrics")), "\n") {
		if rest, ok := strings.CutPrefix(line, "caddy_smartproxy_backend_in_flight{"); ok && strings.Contains(rest, `backend="`+wb.URL+`"`) {
			v, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("bad sample %q", line)
			}
			c.metricInFlight = v
		}
	}
	return c
}

// adminGet fetches path from Caddy's admin endpoint on a new connection
// (a reload may close kept-alive ones).
func adminGet(t *testing.T, path string) []byte {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://localhost:2999" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
	}
	return body
}

// settle waits until the tunnels are gone: nothing in flight, no backend
// connection open, goroutines and file descriptors back at the baseline.
// Sockets the test's own clients still hold are allowed as clientFDs.
func settle(t *testing.T, wb *wsBackend, base tunnelCounters, clientFDs int, within time.Duration) {
	t.Helper()
	var c tunnelCounters
	if !eventually(within, func() bool {
		c = readTunnelCounters(t, wb)
		// metricInFlight -1: no series, the backend left every config.
		return c.backendOpen == 0 && c.statusInFlight == 0 && c.metricInFlight <= 0 &&
			c.goroutines <= base.goroutines+5 && c.fds <= base.fds+clientFDs+5
	}) {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("%v after the tunnels ended: %+v (baseline %+v)\nstatus: %s\n%s", within, c, base, adminGet(t, "/smartproxy/status"), buf[:n])
	}
	t.Logf("after the tunnels ended: %+v (baseline %+v)", c, base)
}

// warmTunnelBaseline opens and closes one tunnel so that pooled and
// keep-alive connections of the test's own clients exist, and returns the
// counters at rest.
func warmTunnelBaseline(t *testing.T, wb *wsBackend) tunnelCounters {
	t.Helper()
	tn := openTunnel(t)
	tn.ws.Close()
	var base tunnelCounters
	eventually(5*time.Second, func() bool {
		base = readTunnelCounters(t, wb)
		return base.backendOpen == 0 && base.statusInFlight == 0
	})
	return base
}

// openTunnels opens n tunnels and checks that the counters see them.
func openTunnels(t *testing.T, wb *wsBackend, n int) []wsTunnel {
	t.Helper()
	tns := make([]wsTunnel, n)
	for i := range tns {
		tns[i] = openTunnel(t)
	}
	t.Cleanup(func() {
		for _, tn := range tns {
			tn.nc.Close()
		}
	})
	if c := readTunnelCounters(t, wb); c.backendOpen != int64(n) || c.statusInFlight != int64(n) || c.metricInFlight != float64(n) {
		t.Fatalf("with %d tunnels open: %+v", n, c)
	}
	return tns
}

// TestTunnelsEndWhenClientLeaves: clients leave, half with a close frame
// and half by dropping the TCP connection (a crashed browser, a lost
// network); the backend waits for frames and would never end on its own.
// Each tunnel must pass the end on (half-close) so the backend ends, and
// leave nothing behind.
func TestTunnelsEndWhenClientLeaves(t *testing.T) {
	const n = 60
	wb := newWSBackend(t, readUntilGone)
	start(t, map[string]any{"backends": backends(wb.backend)})
	base := warmTunnelBaseline(t, wb)
	tns := openTunnels(t, wb, n)
	for i, tn := range tns {
		if i%2 == 0 {
			tn.ws.Close() // close frame, then FIN
		} else {
			tn.nc.Close() // FIN only
		}
	}
	// Well within the linger: the backend ends as soon as it is told.
	settle(t, wb, base, 0, 3*time.Second)
}

// TestTunnelsEndWhenBackendLeaves: the backend ends its side; the client
// neither reads nor closes. The client learns of the end (EOF after the
// backend's last bytes), and the tunnel is gone after the bounded linger
// even though the client never answers.
func TestTunnelsEndWhenBackendLeaves(t *testing.T) {
	const n = 60
	release := make(chan struct{})
	wb := newWSBackend(t, func(c *websocket.Conn) {
		gone := make(chan struct{})
		go func() { readUntilGone(c); close(gone) }()
		select {
		case <-release:
			websocket.Message.Send(c, "bye")
		case <-gone: // the warm-up tunnel's client leaves
		}
	})
	start(t, map[string]any{"backends": backends(wb.backend)})
	base := warmTunnelBaseline(t, wb)
	tns := openTunnels(t, wb, n)
	close(release)
	// The clients hold their n sockets; everything else must go, within
	// the 5 s linger and some slack.
	settle(t, wb, base, n, 10*time.Second)
	// The last client reads only now: it gets the backend's last frame,
	// then the end of the stream.
	last := tns[n-1]
	last.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var bye string
	if err := websocket.Message.Receive(last.ws, &bye); err != nil || bye != "bye" {
		t.Fatalf("last frame from the backend: %q, %v", bye, err)
	}
	if err := websocket.Message.Receive(last.ws, &bye); err == nil {
		t.Fatalf("after the backend left, the client read another frame %q", bye)
	}
}
