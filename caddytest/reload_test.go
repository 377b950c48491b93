package caddytest

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd: cannot count file descriptors here")
	}
	return len(ents)
}

func TestHundredReloadsUnderLoad(t *testing.T) {
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	cfg := func(i int) string {
		h, _ := json.Marshal(map[string]any{
			"handler":         "smartproxy",
			"backends":        []map[string]any{{"url": b1.URL}, {"url": b2.URL, "weight": 1 + i%2}},
			"load_balancer":   map[string]any{"algorithm": "weighted_round_robin"},
			"health_check":    map[string]any{"interval": "200ms", "timeout": "100ms"},
			"circuit_breaker": map[string]any{},
			"rate_limit":      map[string]any{"requests_per_second": 1e6, "burst": 1e6},
			"routes":          []map[string]any{{"path": "/cached", "cache": map[string]any{"ttl": "1s"}}},
		})
		return serverJSON(string(h))
	}
	load := func(c string) {
		resp, err := http.Post("http://localhost:2999/load", "application/json", strings.NewReader(c))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("reload refused: %s", body)
		}
	}
	newTesterJSON(t, `{"handler": "static_response", "body": "warming"}`)
	load(cfg(0))
	get(t, newClient(), "/")
	runtime.GC()
	time.Sleep(300 * time.Millisecond)
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

	l := startLoadDuringReloads(4, 200000)
	for i := range 100 {
		load(cfg(i + 1))
		time.Sleep(10 * time.Millisecond)
	}
	l.finish()
	t.Logf("%d requests during 100 reloads, %d failed; %d dropped by a restarting Caddy server before any handler ran, and retried",
		l.sent.Load(), l.failed.Load(), l.restartDrops.Load())
	if f := l.failed.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed during 100 reloads: %v", f, l.sent.Load(), l.failures)
	}
	var g, fd int
	if !eventually(10*time.Second, func() bool {
		runtime.GC()
		g, fd = runtime.NumGoroutine(), openFDs(t)
		return g <= baseG+5 && fd <= baseFD+5
	}) {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("after 100 reloads: goroutines %d (baseline %d), open fds %d (baseline %d)\n%s", g, baseG, fd, baseFD, buf[:n])
	}
	t.Logf("goroutines %d -> %d, open fds %d -> %d", baseG, g, baseFD, fd)
}
