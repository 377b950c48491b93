package cache

import (
	"runtime"
	"strings"
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
// reload leaks nothing and it needs no Close. It counts the goroutines
// with this package's code in their stack or creation, not
// runtime.NumGoroutine: that also counts the runtime's finalizer and
// cleanup goroutines while they run, which on a loaded machine made it
// fail now and then.
func TestNoGoroutines(t *testing.T) {
	before := packageGoroutines()
	for range 50 {
		c, _ := newTestCache(t, Settings{})
		o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60")}
		do(t, c, "GET", "http://example.com/g", o.fetch)
		do(t, c, "GET", "http://example.com/g", o.fetch)
	}
	if after := packageGoroutines(); after > before {
		t.Fatalf("goroutines %d -> %d", before, after)
	}
}

// packageGoroutines counts the goroutines, other than tests', that run or
// were started by code of this package.
func packageGoroutines() int {
	buf := make([]byte, 1<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "smartproxy/cache.") && !strings.Contains(g, "testing.tRunner") {
			n++
		}
	}
	return n
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
