package cache

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// varyOrigin varies on X-V and answers with its value.
func varyOrigin() *origin {
	return &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "X-V")
		w.Header().Set("Cache-Control", "max-age=600")
		_, _ = w.Write([]byte("v=" + r.Header.Get("X-V")))
	}}
}

func TestMaxVariantsEvictsURLsLeastRecentlyUsed(t *testing.T) {
	c, _ := newTestCache(t, Settings{MaxVariants: 3})
	o := varyOrigin()
	get := func(v string) Status {
		t.Helper()
		w, st := do(t, c, "GET", "http://example.com/v", o.fetch, "X-V", v)
		if w.Body.String() != "v="+v {
			t.Fatalf("X-V %s got %q", v, w.Body.String())
		}
		return st
	}
	for _, v := range []string{"1", "2", "3"} {
		get(v)
	}
	if get("1") != StatusHit { // 1 is now the most recent, 2 the least
		t.Fatal("variant 1 not stored")
	}
	other := &origin{handler: respond(200, "o", "Cache-Control", "max-age=600")}
	do(t, c, "GET", "http://example.com/other", other.fetch)
	get("4") // the URL is full: 2 goes
	st := c.Stats()
	if st.Entries != 4 || st.Evictions != 1 {
		t.Fatalf("stats %+v, want 3 variants + 1 other, 1 eviction", st)
	}
	for v, want := range map[string]Status{"1": StatusHit, "3": StatusHit, "4": StatusHit} {
		if got := get(v); got != want {
			t.Errorf("X-V %s: %s, want %s", v, got, want)
		}
	}
	if get("2") == StatusHit {
		t.Error("least recently used variant survived")
	}
	if _, st := do(t, c, "GET", "http://example.com/other", other.fetch); st != StatusHit {
		t.Error("another URL lost its entry to a variant")
	}
	if n := c.Purge("GET http://example.com/v"); n != 3 {
		t.Fatalf("purge removed %d, want 3", n)
	}
}

// TestManyVariantsStayBounded stores many variants of one URL: the count
// stays at the cap and the store's byte count returns to zero once purged
// (index overhead included).
func TestManyVariantsStayBounded(t *testing.T) {
	c, _ := newTestCache(t, Settings{MaxSize: 100000})
	o := varyOrigin()
	for i := range 5000 {
		do(t, c, "GET", "http://example.com/v", o.fetch, "X-V", strconv.Itoa(i))
	}
	if st := c.Stats(); st.Entries != DefaultMaxVariants {
		t.Fatalf("entries %d, want %d", st.Entries, DefaultMaxVariants)
	}
	for i := 5000 - DefaultMaxVariants; i < 5000; i++ {
		if _, st := do(t, c, "GET", "http://example.com/v", o.fetch, "X-V", strconv.Itoa(i)); st != StatusHit {
			t.Fatalf("recent variant %d: %s", i, st)
		}
	}
	c.PurgePrefix("GET http://example.com/")
	if st := c.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("after purge %+v", st)
	}
}

func TestVaryChangeReplacesVariants(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	vary := "X-A"
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", vary)
		w.Header().Set("Cache-Control", "max-age=600")
		_, _ = w.Write([]byte(vary))
	}}
	do(t, c, "GET", "http://example.com/c", o.fetch, "X-A", "1")
	do(t, c, "GET", "http://example.com/c", o.fetch, "X-A", "2")
	vary = "X-B"
	do(t, c, "GET", "http://example.com/c", o.fetch, "X-A", "3", "X-B", "1")
	if n := c.Stats().Entries; n != 1 {
		t.Fatalf("entries %d after the Vary changed, want 1", n)
	}
	if w, st := do(t, c, "GET", "http://example.com/c", o.fetch, "X-A", "9", "X-B", "1"); st != StatusHit || w.Body.String() != "X-B" {
		t.Fatalf("new variant: %s %q", st, w.Body.String())
	}
}

// TestPurgePrefixLarge purges more keys than one lock hold covers.
func TestPurgePrefixLarge(t *testing.T) {
	c, _ := newTestCache(t, Settings{MaxSize: 3 * purgeBatch})
	o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=600")}
	for i := range 3 * purgeBatch {
		dir := "a"
		if i%3 == 0 {
			dir = "b"
		}
		do(t, c, "GET", fmt.Sprintf("http://example.com/%s/%d", dir, i), o.fetch)
	}
	if n := c.PurgePrefix("GET http://example.com/b/"); n != purgeBatch {
		t.Fatalf("purged %d, want %d", n, purgeBatch)
	}
	if n := c.Stats().Entries; n != 2*purgeBatch {
		t.Fatalf("entries %d", n)
	}
	if n := c.PurgeAll(); n != 2*purgeBatch {
		t.Fatalf("PurgeAll removed %d, want %d", n, 2*purgeBatch)
	}
	if st := c.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("after PurgeAll %+v", st)
	}
}
