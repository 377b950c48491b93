package cache

import (
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// manyHeaders answers with n headers whose names and values are fresh
// strings, as parsed off the wire (a literal would be shared by every
// entry and hide what they cost).
func manyHeaders(n int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Cache-Control"] = []string{strings.Clone("max-age=600")}
		for i := range n {
			h[fmt.Sprintf("X-H-%02d", i)] = []string{fmt.Sprintf("v%d", i)}
		}
		_, _ = w.Write([]byte(body))
	}
}

// TestMaxBytesBoundsLiveHeap fills caches with many small entries (the
// case where structure, not bodies, is the memory) and checks that the
// live heap they hold stays within 2× MaxBytes, the factor documented in
// size.go.
func TestMaxBytesBoundsLiveHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("fills caches of several MiB")
	}
	tests := []struct {
		name     string
		maxBytes int64
		headers  int
		body     int
		requests int
	}{
		{"many headers", 4 << 20, 60, 16, 3000},
		{"small entries", 8 << 20, 3, 32, 30000},
		{"kilobyte bodies", 8 << 20, 5, 2048, 6000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := liveHeap()
			c, _ := newTestCache(t, Settings{MaxBytes: tc.maxBytes, MaxSize: 1 << 20})
			o := &origin{handler: manyHeaders(tc.headers, strings.Repeat("b", tc.body))}
			for i := range tc.requests {
				_, _ = c.Serve(newDiscard(), mustRequest("GET", "http://example.com/item/"+strconv.Itoa(i)), o.fetch)
			}
			after := liveHeap()
			st := c.Stats()
			runtime.KeepAlive(c)
			if st.Evictions == 0 {
				t.Fatalf("cache never filled: %+v", st)
			}
			if st.Bytes > tc.maxBytes {
				t.Fatalf("accounted %d > max_bytes %d", st.Bytes, tc.maxBytes)
			}
			live := int64(after) - int64(before)
			t.Logf("%d entries, accounted %d, live heap %d (%.2f× max_bytes)", st.Entries, st.Bytes, live, float64(live)/float64(tc.maxBytes))
			if live > 2*tc.maxBytes {
				t.Fatalf("live heap %d is over 2× max_bytes %d", live, tc.maxBytes)
			}
		})
	}
}

// TestLargeHeadersNotStored: headers count against MaxEntryBytes.
func TestLargeHeadersNotStored(t *testing.T) {
	c, _ := newTestCache(t, Settings{MaxEntryBytes: 64 << 10})
	big := &origin{handler: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		for i := range 100 {
			w.Header().Set("X-Big-"+strconv.Itoa(i), strings.Repeat("h", 1000))
		}
		_, _ = w.Write([]byte("small body"))
	}}
	w, _ := do(t, c, "GET", "http://example.com/h", big.fetch)
	if cs := cacheStatusOf(w); !strings.HasSuffix(cs, "detail=too-large") {
		t.Fatalf("Cache-Status %q", cs)
	}
	if w.Body.String() != "small body" || len(w.Header()["X-Big-99"]) != 1 {
		t.Fatal("response not passed through whole")
	}
	if _, st := do(t, c, "GET", "http://example.com/h", big.fetch); st == StatusHit {
		t.Fatal("response with 100 KB of headers stored under max_entry_bytes 64 KiB")
	}

	// Headers and body together: each alone fits, the sum does not.
	both := &origin{handler: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("X-Half", strings.Repeat("h", 40<<10))
		_, _ = w.Write([]byte(strings.Repeat("b", 40<<10)))
	}}
	do(t, c, "GET", "http://example.com/both", both.fetch)
	if _, st := do(t, c, "GET", "http://example.com/both", both.fetch); st == StatusHit {
		t.Fatal("headers + body over max_entry_bytes stored")
	}
}

// TestRefreshWithLargeHeadersNotStored: a 304 whose headers would push the
// stored response over MaxEntryBytes refreshes this answer only.
func TestRefreshWithLargeHeadersNotStored(t *testing.T) {
	c, clk := newTestCache(t, Settings{MaxEntryBytes: 64 << 10})
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			for i := range 100 {
				w.Header().Set("X-Big-"+strconv.Itoa(i), strings.Repeat("h", 1000))
			}
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte("body"))
	}}
	do(t, c, "GET", "http://example.com/r", o.fetch)
	clk.Advance(2 * time.Second)
	if w, st := do(t, c, "GET", "http://example.com/r", o.fetch); st != StatusRevalidated || w.Body.String() != "body" {
		t.Fatalf("revalidation: %s %q", st, w.Body.String())
	}
	if _, st := do(t, c, "GET", "http://example.com/r", o.fetch); st == StatusHit {
		t.Fatal("refreshed response with 100 KB of headers stored")
	}
}
