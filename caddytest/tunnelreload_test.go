package caddytest

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// echoAll sends a distinct message on every tunnel and checks each echoes
// it back; it returns the first failure.
func echoAll(tns []wsTunnel, round int) error {
	for i, tn := range tns {
		msg := fmt.Sprintf("round %d tunnel %d", round, i)
		tn.nc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := websocket.Message.Send(tn.ws, msg); err != nil {
			return fmt.Errorf("tunnel %d: send: %v", i, err)
		}
		var got string
		if err := websocket.Message.Receive(tn.ws, &got); err != nil || got != msg {
			return fmt.Errorf("tunnel %d: echo %q, %v; want %q", i, got, err, msg)
		}
		tn.nc.SetDeadline(time.Time{})
	}
	return nil
}

// allClosed reports whether every tunnel has ended (a read fails at once
// rather than timing out).
func allClosed(tns []wsTunnel) bool {
	for _, tn := range tns {
		tn.nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var s string
		err := websocket.Message.Receive(tn.ws, &s)
		tn.nc.SetReadDeadline(time.Time{})
		if err == nil || isTimeout(err) {
			return false
		}
	}
	return true
}

func isTimeout(err error) bool {
	te, ok := err.(interface{ Timeout() bool })
	return ok && te.Timeout()
}

func echoBackend(t *testing.T) *wsBackend {
	return newWSBackend(t, func(c *websocket.Conn) {
		var s string
		for websocket.Message.Receive(c, &s) == nil {
			if websocket.Message.Send(c, s) != nil {
				return
			}
		}
	})
}

// TestTunnelsSurviveReloads: 20 WebSockets stay open and keep echoing
// across 10 config loads that keep their backend (each load changes
// settings, so every handler is new); a load without the backend closes
// them once the stream_close_delay of the last config that had it has
// passed, not before; with no delay, at once. Nothing is left behind.
func TestTunnelsSurviveReloads(t *testing.T) {
	const n = 20
	wb, other := echoBackend(t), newBackend(t, "other", nil)
	cfg := func(i int, withWS bool, delay string) map[string]any {
		bs := backends(other)
		if withWS {
			bs = backends(wb.backend)
		}
		return map[string]any{"backends": bs, "timeout": fmt.Sprintf("%ds", 10+i), "stream_close_delay": delay}
	}
	// No delay while the backend stays: the tunnels survive because they
	// belong to the backend, not because their closing is put off. The
	// last config that holds the backend sets the delay its leaving gets.
	start(t, cfg(0, true, "0s"))
	base := warmTunnelBaseline(t, wb)
	tns := openTunnels(t, wb, n)
	if err := echoAll(tns, 0); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		delay := "0s"
		if i == 10 {
			delay = "2s"
		}
		loadJSON(t, cfg(i, true, delay))
		if err := echoAll(tns, i); err != nil {
			t.Fatalf("after load %d that kept the backend: %v", i, err)
		}
	}
	if c := readTunnelCounters(t, wb); c.backendOpen != n || c.statusInFlight != n {
		t.Fatalf("after 10 loads: %+v, want %d tunnels in the new config's status", c, n)
	}

	// The backend leaves the config: the tunnels live out the delay.
	left := time.Now()
	loadJSON(t, cfg(11, false, "2s"))
	if err := echoAll(tns, 11); err != nil && time.Since(left) < 2*time.Second {
		t.Fatalf("within stream_close_delay after the backend left: %v", err)
	}
	if !eventually(10*time.Second, func() bool { return allClosed(tns) }) {
		t.Fatal("tunnels to a removed backend are still open long after stream_close_delay")
	}
	if took := time.Since(left); took < 2*time.Second {
		t.Fatalf("tunnels closed %v after the backend left, before the 2s delay", took)
	}
	settle(t, wb, base, n, 10*time.Second)

	// With no delay they close as the backend leaves.
	loadJSON(t, cfg(12, true, "0s"))
	tns = openTunnels(t, wb, n)
	left = time.Now()
	loadJSON(t, cfg(13, false, "0s"))
	if !eventually(5*time.Second, func() bool { return allClosed(tns) }) {
		t.Fatal("with stream_close_delay 0 the tunnels to a removed backend stay open")
	}
	t.Logf("closed %v after the load that removed the backend", time.Since(left))
	runtime.GC()
}
