package caddytest

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCacheRangeRequests_RFC9110_14: through real Caddy, a range miss is
// fetched whole and stored, later ranges are cut from memory (206, 416),
// and several ranges go to the backend, whose 206 is not stored.
func TestCacheRangeRequests_RFC9110_14(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Range"))
		mu.Unlock()
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("ETag", `"r1"`)
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader("abcdefghijklmnopqrstuvwxyz"))
	})
	start(t, map[string]any{"backends": backends(b), "cache": map[string]any{"max_size": 100}})
	c := newClient()
	for _, tt := range []struct {
		rng, ifRange string
		code         int
		body, cr     string
	}{
		{"bytes=0-4", "", 206, "abcde", "bytes 0-4/26"},
		{"bytes=-3", "", 206, "xyz", "bytes 23-25/26"},
		{"bytes=20-", `"r1"`, 206, "uvwxyz", "bytes 20-25/26"},
		{"bytes=20-", `"old"`, 200, "abcdefghijklmnopqrstuvwxyz", ""},
		{"bytes=100-", "", 416, "", "bytes */26"},
	} {
		hdr := []string{"Range", tt.rng}
		if tt.ifRange != "" {
			hdr = append(hdr, "If-Range", tt.ifRange)
		}
		resp, body := cacheGet(t, c, "/alphabet", hdr...)
		if resp.StatusCode != tt.code || body != tt.body || resp.Header.Get("Content-Range") != tt.cr {
			t.Errorf("Range %s If-Range %s: %d %q %q, want %d %q %q", tt.rng, tt.ifRange,
				resp.StatusCode, body, resp.Header.Get("Content-Range"), tt.code, tt.body, tt.cr)
		}
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != "" {
		t.Errorf("backend saw Range %q, want one whole fetch", seen)
	}
	mu.Unlock()
	resp, _ := cacheGet(t, c, "/alphabet", "Range", "bytes=0-0,2-2")
	if resp.StatusCode != 206 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges") {
		t.Errorf("several ranges: %d %q, want the backend's multipart 206", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[1] != "bytes=0-0,2-2" {
		t.Errorf("backend saw Range %q, want the several ranges passed on", seen)
	}
}
