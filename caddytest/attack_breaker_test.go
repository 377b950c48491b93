package caddytest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Clients that send broken requests are the clients' fault, never a
// backend's: a malformed chunked body, a body over Caddy's request_body
// limit, a header value with CR/LF that a placeholder put there, headers
// over the backend's advertised limit, an Upgrade the backend's protocol
// cannot carry. Each gets its own 4xx, and
// the backends' breakers (failure_threshold 2) never trip, so the
// legitimate requests after each batch all succeed.
func TestAttackClientsTripBreakers(t *testing.T) {
	chunkedPost := func(chunks string) string {
		return "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
	}
	big := chunkedPost(fmt.Sprintf("1000\r\n%s\r\n0\r\n\r\n", strings.Repeat("a", 0x1000)))
	bigHeader := "GET /h2c/big HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 32<<10) + "\r\n\r\n"
	upgrade := "GET /h2c/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	batches := []struct {
		name string
		raw  []string
		want int // 0: any 4xx, or 501
	}{
		{"malformed chunked bodies", []string{
			chunkedPost("5\r\nhello\r\nzz\r\nabc\r\n0\r\n\r\n"),
			chunkedPost("5\r\nhelloXX\r\n0\r\n\r\n"),
			chunkedPost("5\r\nhello\r\n-1\r\n\r\n"),
			chunkedPost("5\r\nhello\r\n0\r\nBad Trailer\r\n\r\n"),
		}, http.StatusBadRequest},
		{"chunked bodies over max_size", []string{big, big, big, big}, http.StatusRequestEntityTooLarge},
		{"CR LF in a header through a placeholder", []string{
			"GET /search?q=a%0d%0aX-Injected:%20yes HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /search?q=a%0aX-Injected:%20yes HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /search?q=a%0dX-Injected:%20yes HTTP/1.1\r\nHost: x\r\n\r\n",
			"GET /search?q=b%0d%0aX-Injected:%20yes HTTP/1.1\r\nHost: x\r\n\r\n",
		}, http.StatusBadRequest},
		// Over the h2c backends' advertised header list limit (16 KiB)
		// but well within Caddy's.
		{"headers over an h2c backend's limit", []string{bigHeader, bigHeader, bigHeader, bigHeader},
			http.StatusRequestHeaderFieldsTooLarge},
		// HTTP/2 cannot carry an Upgrade: the client asked for what the
		// route cannot do (a 4xx, or 501 Not Implemented).
		{"upgrades on an h2c route", []string{upgrade, upgrade, upgrade, upgrade}, 0},
	}
	for _, bt := range batches {
		t.Run(bt.name, func(t *testing.T) {
			b1, b2 := newAdvBackend(t), newAdvBackend(t)
			h := map[string]any{
				"backends":        []map[string]any{{"url": b1.URL}, {"url": b2.URL}},
				"retries":         map[string]any{"count": 0},
				"circuit_breaker": map[string]any{"failure_threshold": 2, "base_backoff": "30s", "max_backoff": "60s"},
				"routes": []map[string]any{{"path": "/h2c",
					"backends": []map[string]any{{"url": newH2CBackend(t, "c1")}, {"url": newH2CBackend(t, "c2")}}}},
			}
			startServers(t, map[string]any{"sp": plainServer(proxyAddr, spRoute(h, nil,
				map[string]any{"handler": "request_body", "max_size": 1024},
				map[string]any{"handler": "headers", "request": map[string]any{"set": map[string]any{
					"X-Search": []string{"{http.request.uri.query.q}"}}}},
			))})
			legit := func(after string) {
				t.Helper()
				for _, p := range []string{"/ok", "/ok", "/ok", "/ok", "/h2c/ok", "/h2c/ok", "/h2c/ok", "/h2c/ok"} {
					if code, body := get(t, newClient(), p); code != 200 {
						t.Errorf("after %s: GET %s: %d %q, want 200 (a client's broken request tripped a breaker?)", after, p, code, body)
					}
				}
			}
			legit("nothing")
			for _, raw := range bt.raw {
				r := rawGet(t, raw)
				refused := r.Status == http.StatusNotImplemented || r.Status >= 400 && r.Status < 500
				if bt.want != 0 && r.Status != bt.want || bt.want == 0 && !refused {
					t.Errorf("%q: status %d %q, want %d (0: a 4xx or 501)", raw[:min(len(raw), 70)], r.Status, r.Body, bt.want)
				}
			}
			legit(bt.name)
			if strings.Contains(b1.received()+b2.received(), "\nX-Injected") {
				t.Error("a header line injected through a placeholder reached a backend")
			}
			for _, rt := range getStatus(t).Routes {
				for _, be := range rt.Backends {
					if be.Breaker != nil && be.Breaker.Trips > 0 {
						t.Errorf("route %s: backend %s's breaker tripped %d times, on clients' requests alone", rt.Name, be.URL, be.Breaker.Trips)
					}
				}
			}
		})
	}
}
