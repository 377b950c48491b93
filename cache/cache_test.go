package cache

import (
	"runtime"
	"testing"
)

func TestStatsCounters(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60")}
	do(t, c, "GET", "http://example.com/1", o.fetch)
	do(t, c, "GET", "http://example.com/1", o.fetch)
	do(t, c, "GET", "http://example.com/1", o.fetch)
	do(t, c, "GET", "http://example.com/2", o.fetch)
	st := c.Stats()
	if st.Hits != 2 || st.Misses != 2 || st.Stores != 2 || st.Entries != 2 || st.Bytes <= 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestStoredHeadersNotShared checks that a downstream handler appending to
// a header served from cache cannot change the stored response.
func TestStoredHeadersNotShared(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60", "X-Tag", "a")}
	do(t, c, "GET", "http://example.com/h", o.fetch)
	w, _ := do(t, c, "GET", "http://example.com/h", o.fetch)
	w.Header().Add("X-Tag", "b")
	w.Header().Add("Cache-Status", "downstream; hit")
	w.Header().Add("Age", "999")
	w, _ = do(t, c, "GET", "http://example.com/h", o.fetch)
	if got := w.Header().Values("X-Tag"); len(got) != 1 || got[0] != "a" {
		t.Fatalf("stored header changed: %q", got)
	}
	if got := w.Header().Values("Cache-Status"); len(got) != 1 {
		t.Fatalf("stored Cache-Status changed: %q", got)
	}
	if got := w.Header().Values("Age"); len(got) != 1 || got[0] != "0" {
		t.Fatalf("shared Age value changed: %q", got)
	}
}

// TestNoGoroutines proves a Cache starts none, so dropping one on a config
// reload leaks nothing and it needs no Close.
func TestNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 50 {
		c, _ := newTestCache(t, Settings{})
		o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60")}
		do(t, c, "GET", "http://example.com/g", o.fetch)
		do(t, c, "GET", "http://example.com/g", o.fetch)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("goroutines %d -> %d", before, after)
	}
}

func TestStatusString(t *testing.T) {
	for s := StatusNone; s <= StatusOnlyIfCached; s++ {
		if name := s.String(); name == "" || name == "unknown" {
			t.Errorf("Status(%d) has no name", s)
		}
	}
	if Status(200).String() != "unknown" {
		t.Error("out of range status named")
	}
}
