package caddytest

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond every few milliseconds for up to 5 s: the background
// revalidation runs on its own time, and there is no clock seam through
// real Caddy.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCacheStaleWhileRevalidate_RFC5861: through real Caddy a response
// within its stale-while-revalidate window is served stale at once and
// refreshed by one background request; a reload cancels a background
// request still running.
func TestCacheStaleWhileRevalidate_RFC5861(t *testing.T) {
	var revalidations, cancelled atomic.Int32
	hang := make(chan struct{})
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		// Already 5 s old, fresh for 1: stale at once, within the window.
		w.Header().Set("Age", "5")
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=60")
		w.Header().Set("ETag", `"e"`)
		if r.Header.Get("If-None-Match") != "" {
			revalidations.Add(1)
			if r.URL.Path == "/hang" {
				select {
				case <-hang:
				case <-r.Context().Done():
					cancelled.Add(1)
					return
				}
			}
			w.Header().Set("Age", "0")
			w.Header().Set("Cache-Control", "max-age=300")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "page")
	})
	cfg := map[string]any{"backends": backends(b), "cache": map[string]any{"max_size": 100}}
	start(t, cfg)
	c := newClient()
	cacheGet(t, c, "/page")
	resp, body := cacheGet(t, c, "/page")
	if cs := resp.Header.Get("Cache-Status"); body != "page" || !strings.Contains(cs, "fwd=stale; detail=stale-while-revalidate") {
		t.Fatalf("second GET: %q Cache-Status %q, want stale-while-revalidate", body, cs)
	}
	waitFor(t, "the background revalidation", func() bool { return revalidations.Load() == 1 })
	waitFor(t, "the refreshed response", func() bool {
		resp, _ := cacheGet(t, c, "/page")
		return strings.Contains(resp.Header.Get("Cache-Status"), "; hit") && !strings.Contains(resp.Header.Get("Cache-Status"), "fwd=")
	})
	if n := revalidations.Load(); n != 1 {
		t.Errorf("%d revalidations, want 1", n)
	}

	// A revalidation still running when the config goes is cancelled.
	cacheGet(t, c, "/hang")
	if resp, _ := cacheGet(t, c, "/hang"); !strings.Contains(resp.Header.Get("Cache-Status"), "stale-while-revalidate") {
		t.Fatalf("/hang: Cache-Status %q", resp.Header.Get("Cache-Status"))
	}
	waitFor(t, "the hanging revalidation to start", func() bool { return revalidations.Load() == 2 })
	start(t, map[string]any{"backends": backends(b)}) // a reload without the cache
	waitFor(t, "the reload to cancel the background request", func() bool { return cancelled.Load() == 1 })
	close(hang)
}
