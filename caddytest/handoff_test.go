package caddytest

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// handoffWorkers counts the goroutines of smartproxy's HTTP/2 hand-off
// pools (internal/handoff) in this process, where Caddy runs.
func handoffWorkers() int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("handoff.(*worker).loop"))
}

// TestHTTP2RequestsRunOnWorkersThatEndWithTheConfig: HTTP/2 requests are
// served on the handler's pooled workers (HTTP/1.1 ones are not), answers
// are whole, a response the backend breaks mid-body still resets only its
// own stream (http.ErrAbortHandler comes back to net/http as itself), and
// a reload retires the old handler's workers.
func TestHTTP2RequestsRunOnWorkersThatEndWithTheConfig(t *testing.T) {
	body := strings.Repeat("0123456789", 500)
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			conn, bw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
			bw.Flush()
			conn.Close()
			return
		}
		io.WriteString(w, body)
	})
	cfg := func(algorithm string) map[string]any {
		srv := plainServer(proxyAddr, spRoute(map[string]any{"backends": backends(b),
			"load_balancer": map[string]any{"algorithm": algorithm}}, nil))
		srv["protocols"] = []string{"h1", "h2c"}
		return map[string]any{"sp": srv}
	}
	startServers(t, cfg("round_robin"))
	if n := handoffWorkers(); n != 0 {
		t.Fatalf("%d hand-off workers before any HTTP/2 request", n)
	}

	h1 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	for range 20 {
		if st, got := get(t, h1, "/h1"); st != 200 || got != body {
			t.Fatalf("HTTP/1.1: %d, %d bytes", st, len(got))
		}
	}
	if n := handoffWorkers(); n != 0 {
		t.Errorf("%d hand-off workers after HTTP/1.1 requests only, want 0", n)
	}

	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: h2cOnly()}}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for range 10 {
				resp, err := h2.Get(proxyURL + "/h2")
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 || string(got) != body {
					t.Errorf("client %d: %s %d, %d bytes, %v", i, resp.Proto, resp.StatusCode, len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := handoffWorkers(); n == 0 {
		t.Error("no hand-off worker after HTTP/2 requests")
	}

	// The backend breaks its answer: the client's stream fails, the
	// connection and the next request do not.
	// (The stream is reset before or after its head went out.)
	if resp, err := h2.Get(proxyURL + "/broken"); err == nil {
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("a broken body read whole over HTTP/2: %q", got)
		}
	} else if !strings.Contains(err.Error(), "stream error") {
		t.Errorf("a broken body over HTTP/2: %v, want a stream error", err)
	}
	if st, got := get(t, h2, "/after"); st != 200 || got != body {
		t.Errorf("after a broken stream: %d, %d bytes", st, len(got))
	}

	// A reload (to a config that differs: Caddy ignores the same one)
	// cleans the old handler up, and its idle workers end.
	startServers(t, cfg("random"))
	if !eventually(5*time.Second, func() bool { return handoffWorkers() == 0 }) {
		t.Errorf("%d hand-off workers outlived their config", handoffWorkers())
	}
	h2.CloseIdleConnections()
}
