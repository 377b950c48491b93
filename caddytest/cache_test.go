package caddytest

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func cacheGet(t *testing.T, c *http.Client, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", proxyURL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestCacheServesSecondGetFromMemory(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprintf(w, "page %s", r.URL.Path)
	})
	start(t, map[string]any{"backends": backends(b), "cache": map[string]any{"max_size": 1000, "ttl": "300s"}})
	c := newClient()
	r1, body1 := cacheGet(t, c, "/page")
	r2, body2 := cacheGet(t, c, "/page")
	if body1 != "page /page" || body2 != body1 {
		t.Fatalf("bodies %q, %q", body1, body2)
	}
	if n := b.hits.Load(); n != 1 {
		t.Fatalf("backend saw %d requests, want 1: the second GET must be a hit", n)
	}
	if cs := r2.Header.Get("Cache-Status"); !strings.Contains(cs, "hit") {
		t.Errorf("second response Cache-Status %q, want a hit", cs)
	}
	if cs := r1.Header.Get("Cache-Status"); !strings.Contains(cs, "fwd=") {
		t.Errorf("first response Cache-Status %q, want a forward", cs)
	}
	if r2.Header.Get("Age") == "" {
		t.Errorf("a hit carries Age")
	}
	// Another path and another host are other keys.
	cacheGet(t, c, "/other")
	req, _ := http.NewRequest("GET", proxyURL+"/page", nil)
	req.Host = "other.example"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := b.hits.Load(); n != 3 {
		t.Fatalf("backend saw %d requests, want 3 (path and host are in the key)", n)
	}
}

func TestCacheVaryAndNoStore(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/nostore" {
			w.Header().Set("Cache-Control", "no-store")
			io.WriteString(w, "fresh every time")
			return
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Encoding")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			io.WriteString(w, "GZIPPED")
			return
		}
		io.WriteString(w, "plain")
	})
	start(t, map[string]any{"backends": backends(b), "cache": map[string]any{}})
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}
	for range 2 {
		if _, body := cacheGet(t, c, "/v", "Accept-Encoding", "gzip"); body != "GZIPPED" {
			t.Fatalf("gzip client got %q", body)
		}
		if _, body := cacheGet(t, c, "/v"); body != "plain" {
			t.Fatalf("plain client got %q", body)
		}
	}
	if n := b.hits.Load(); n != 2 {
		t.Fatalf("backend saw %d requests, want 2 (one per variant)", n)
	}
	for range 3 {
		cacheGet(t, c, "/nostore")
	}
	if n := b.hits.Load(); n != 5 {
		t.Fatalf("backend saw %d requests, want 5: no-store is never cached", n)
	}
}

func TestCacheCoalescesConcurrentColdGets(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond) // long enough for all to arrive
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "slow answer")
	})
	start(t, map[string]any{"backends": backends(b), "cache": map[string]any{}})
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(proxyURL + "/cold")
			if err != nil {
				errs <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "slow answer" {
				errs <- fmt.Sprintf("%d %q", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := b.hits.Load(); n != 1 {
		t.Fatalf("100 concurrent cold GETs reached the backend %d times, want 1", n)
	}
}

func TestCacheLargeResponseStreamsUncached(t *testing.T) {
	const size = 50 << 20
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		io.Copy(w, &patternReader{n: size})
	})
	start(t, map[string]any{"backends": backends(b), "cache": map[string]any{"max_entry_bytes": 1 << 20}})
	c := &http.Client{Timeout: 60 * time.Second}
	for i := range 2 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		resp, err := c.Get(proxyURL + "/big")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		runtime.ReadMemStats(&after)
		if err != nil || n != size {
			t.Fatalf("got %d bytes (%v), want %d", n, err, size)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("download %d: %.1f MiB allocated in the whole process", i, float64(alloc)/(1<<20))
		if alloc > 16<<20 {
			t.Errorf("a 50 MiB uncacheable response allocated %d MiB", alloc>>20)
		}
	}
	if n := b.hits.Load(); n != 2 {
		t.Fatalf("backend saw %d requests, want 2: a response over max_entry_bytes is not stored", n)
	}
}

func TestCacheStaleIfError(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1")
		io.WriteString(w, "remembered")
	})
	start(t, map[string]any{"backends": backends(b), "cache": map[string]any{"stale_if_error": "1h"}})
	c := newClient()
	if _, body := cacheGet(t, c, "/s"); body != "remembered" {
		t.Fatalf("got %q", body)
	}
	b.Close()                           // the only backend is gone
	time.Sleep(2100 * time.Millisecond) // let the entry go stale (max-age=1, whole seconds)
	resp, body := cacheGet(t, c, "/s")
	if resp.StatusCode != 200 || body != "remembered" {
		t.Fatalf("backend down, stale entry within stale_if_error: got %d %q", resp.StatusCode, body)
	}
	if cs := resp.Header.Get("Cache-Status"); !strings.Contains(cs, "stale") {
		t.Errorf("Cache-Status %q, want it to say stale", cs)
	}
	if resp, _ := cacheGet(t, c, "/never-stored"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("uncached path with the backend down: %d, want 503", resp.StatusCode)
	}
}
