package caddytest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestCacheHitHeadersAreEachResponsesOwn: Caddy's header replace rewrites
// a field's values in place. A hit whose response header shared value
// slices with the stored entry, with other hits or with the cache's table
// of Age values would carry one response's rewrite into every later one
// (and race on it), across sites too. A replace that is not idempotent
// shows it: the miss and every hit must carry each field rewritten once.
func TestCacheHitHeadersAreEachResponsesOwn(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("X-Tag", "a")
		w.Header().Set("Etag", `"v1"`)
		io.WriteString(w, "body")
	})
	rewrite := map[string]any{
		"handler": "headers",
		"response": map[string]any{
			"deferred": true,
			"replace": map[string]any{
				"X-Tag":         []map[string]any{{"search": "a", "replace": "a;x"}},
				"Cache-Control": []map[string]any{{"search": "max-age=600", "replace": "max-age=600, x"}},
				"Cache-Status":  []map[string]any{{"search": "hit", "replace": "hit;x"}},
				"Age":           []map[string]any{{"search_regexp": "^([0-9]+)", "replace": "${1};x"}},
			},
		},
	}
	// Two sites: the second has no rewrite and must never see the first's.
	startServers(t, map[string]any{"sp": plainServer(proxyAddr,
		spRoute(map[string]any{"backends": backends(b), "cache": map[string]any{"max_size": 100}}, []string{"one.test"}, rewrite),
		spRoute(map[string]any{"backends": backends(b), "cache": map[string]any{"max_size": 100}}, []string{"two.test"}),
	)})
	get := func(host string, fields ...string) http.Header {
		t.Helper()
		return getPath(t, host, "/", fields...)
	}
	for i := range 3 { // an entry stored by a range miss
		fields := []string{}
		if i == 0 {
			fields = []string{"Range", "bytes=0-1"}
		}
		if got := getPath(t, "one.test", "/r", fields...).Get("X-Tag"); got != "a;x" {
			t.Errorf("one.test /r response %d: X-Tag %q, want \"a;x\"", i, got)
		}
	}
	for i := range 5 {
		h := get("one.test")
		if got := h.Get("X-Tag"); got != "a;x" {
			t.Errorf("one.test response %d: X-Tag %q, want \"a;x\"", i, got)
		}
		if i > 0 {
			if got := h.Get("Cache-Status"); !strings.Contains(got, "hit;x") || strings.Contains(got, "hit;x;x") {
				t.Errorf("one.test response %d: Cache-Status %q, want the hit rewritten once", i, got)
			}
			if got := h.Get("Age"); !strings.HasSuffix(got, ";x") || strings.HasSuffix(got, ";x;x") {
				t.Errorf("one.test response %d: Age %q, want it rewritten once", i, got)
			}
		}
		// A 304 and a range from the same entry: their own fields too.
		if i > 0 {
			nm := get("one.test", "If-None-Match", `"v1"`)
			if got := nm.Get("Cache-Control"); got != "max-age=600, x" {
				t.Errorf("one.test 304 %d: Cache-Control %q, want it rewritten once", i, got)
			}
			rg := get("one.test", "Range", "bytes=0-1")
			if got := rg.Get("X-Tag"); got != "a;x" {
				t.Errorf("one.test range %d: X-Tag %q, want \"a;x\"", i, got)
			}
		}
		h2 := get("two.test")
		if i > 0 && (strings.Contains(h2.Get("Age"), "x") || strings.Contains(h2.Get("Cache-Status"), ";x")) {
			t.Errorf("two.test response %d: Age %q, Cache-Status %q: another site's rewrite leaked", i, h2.Get("Age"), h2.Get("Cache-Status"))
		}
		if got := h2.Get("X-Tag"); got != "a" {
			t.Errorf("two.test response %d: X-Tag %q, want \"a\"", i, got)
		}
	}
}

// getPath GETs path from the proxy with the Host and header fields given
// and returns the response's header.
func getPath(t *testing.T, host, path string, fields ...string) http.Header {
	t.Helper()
	req, _ := http.NewRequest("GET", proxyURL+path, nil)
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Set(fields[i], fields[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header
}

// TestHeaderSetConstantIsEachResponsesOwn: a constant value of the
// handler's own headers.response.set reaches each response in a slice of
// its own, so Caddy's in-place replace cannot rewrite it for later ones.
func TestHeaderSetConstantIsEachResponsesOwn(t *testing.T) {
	b := newBackend(t, "b", nil)
	rewrite := map[string]any{
		"handler": "headers",
		"response": map[string]any{
			"deferred": true,
			"replace":  map[string]any{"X-Set": []map[string]any{{"search": "v", "replace": "v;x"}}},
		},
	}
	startServers(t, map[string]any{"sp": plainServer(proxyAddr, spRoute(map[string]any{
		"backends": backends(b),
		"headers":  map[string]any{"response": map[string]any{"set": map[string]string{"X-Set": "v"}}},
	}, nil, rewrite))})
	for i := range 4 {
		if got := getPath(t, "", "/").Get("X-Set"); got != "v;x" {
			t.Fatalf("response %d: X-Set %q, want \"v;x\"", i, got)
		}
	}
}
