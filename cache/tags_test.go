package cache

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// tagged is an origin whose responses to a path are fresh for 10 s, with
// an ETag and the fields fields[path] ("Name:value" each); it answers a
// conditional request 304 without them.
func tagged(fields map[string][]string) *origin {
	return &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			w.Header().Set("Cache-Control", "max-age=10")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		for _, f := range fields[r.URL.Path] {
			name, value, _ := strings.Cut(f, ":")
			w.Header().Add(name, value)
		}
		respond(200, r.URL.Path, "Cache-Control", "max-age=10", "ETag", `"x"`)(w, r)
	}}
}

func TestPurgeTags(t *testing.T) {
	c, clk := newTestCache(t, Settings{})
	o := tagged(map[string][]string{
		"/a": {"Surrogate-Key:product-1 list  all"},
		"/b": {"Cache-Tag:product-2,list"},
		"/c": {"Surrogate-Key:all", "Cache-Tag:  product-3 ,"},
		"/d": nil,
	})
	for _, p := range []string{"/a", "/b", "/c", "/d"} {
		w, _ := do(t, c, "GET", "http://example.com"+p, o.fetch)
		if w.Header().Get("Surrogate-Key") != "" || w.Header().Get("Cache-Tag") != "" {
			t.Errorf("%s: tags sent to the client on a miss: %v", p, w.Header())
		}
	}
	w, st := do(t, c, "GET", "http://example.com/a", o.fetch)
	if st != StatusHit || w.Header().Get("Surrogate-Key") != "" {
		t.Errorf("hit %v sent tags: %v", st, w.Header())
	}
	// A 304 that names no tags keeps the stored ones.
	clk.Advance(time.Minute)
	if _, st := do(t, c, "GET", "http://example.com/c", o.fetch); st != StatusRevalidated {
		t.Fatalf("/c: %v, want revalidated", st)
	}
	tests := []struct {
		tags []string
		n    int
		left []string // paths still hits after
	}{
		{[]string{"none"}, 0, []string{"/a", "/b", "/c", "/d"}},
		{[]string{"product-3"}, 1, []string{"/a", "/b", "/d"}},
		{[]string{"list"}, 2, []string{"/d"}},
		{[]string{"all", "product-1"}, 0, []string{"/d"}},
	}
	for _, tt := range tests {
		if n := c.PurgeTags(tt.tags...); n != tt.n {
			t.Errorf("PurgeTags(%q) = %d, want %d", tt.tags, n, tt.n)
		}
		var left []string
		for _, p := range []string{"/a", "/b", "/c", "/d"} {
			if e, _ := c.store.get([]byte(DefaultKey(nil, mustRequest("GET", "http://example.com"+p))), mustRequest("GET", "http://example.com"+p)); e != nil {
				left = append(left, p)
			}
		}
		if fmt.Sprint(left) != fmt.Sprint(tt.left) {
			t.Errorf("after PurgeTags(%q) stored %q, want %q", tt.tags, left, tt.left)
		}
	}
	c.PurgeAll()
	if len(c.store.tags) != 0 {
		t.Errorf("tag index holds %d tags after PurgeAll", len(c.store.tags))
	}
}

func TestExposeTagsAndCustomHeaders(t *testing.T) {
	c, _ := newTestCache(t, Settings{ExposeTags: true, TagHeaders: []string{"x-tags"}})
	o := tagged(map[string][]string{"/a": {"X-Tags:t1,t2", "Surrogate-Key:other"}})
	w, _ := do(t, c, "GET", "http://example.com/a", o.fetch)
	hit, _ := do(t, c, "GET", "http://example.com/a", o.fetch)
	for _, h := range []http.Header{w.Header(), hit.Header()} {
		if h.Get("X-Tags") != "t1,t2" || h.Get("Surrogate-Key") != "other" {
			t.Errorf("exposed tags missing: %v", h)
		}
	}
	if n := c.PurgeTags("other"); n != 0 {
		t.Errorf("a field not named in TagHeaders tagged the entry")
	}
	if n := c.PurgeTags("t2"); n != 1 {
		t.Errorf("PurgeTags(t2) = %d, want 1", n)
	}
}

// TestTagIndexBounded: a hostile origin's thousand tags, or huge ones,
// record at most maxTagsPerEntry tags of at most maxTagBytes, and every
// recorded tag counts against MaxBytes.
func TestTagIndexBounded(t *testing.T) {
	var many []string
	for i := range 1000 {
		many = append(many, fmt.Sprint("t", i))
	}
	huge := strings.Repeat("h", maxTagBytes+1)
	c, _ := newTestCache(t, Settings{})
	o := tagged(map[string][]string{
		"/many": {"Surrogate-Key:" + strings.Join(many, " ")},
		"/huge": {"Surrogate-Key:" + huge + " small"},
		"/none": nil,
	})
	do(t, c, "GET", "http://example.com/none", o.fetch)
	_, plain := c.store.size()
	do(t, c, "GET", "http://example.com/many", o.fetch)
	do(t, c, "GET", "http://example.com/huge", o.fetch)
	if got := len(c.store.tags); got != maxTagsPerEntry+1 {
		t.Errorf("index holds %d tags, want %d", got, maxTagsPerEntry+1)
	}
	if c.PurgeTags(huge) != 0 || c.PurgeTags("t999") != 0 || c.PurgeTags("t63") != 1 {
		t.Errorf("tags past the bounds were recorded")
	}
	_, now := c.store.size()
	if now-plain < tagsBytes([]string{"small"}) {
		t.Errorf("bytes %d -> %d: tags not counted", plain, now)
	}
}

func TestTagHeadersValidate(t *testing.T) {
	for _, name := range []string{"", "Bad Name", "a:b"} {
		s := Settings{TagHeaders: []string{name}}
		if err := s.Validate(); !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), "tag_headers") {
			t.Errorf("TagHeaders %q: %v", name, err)
		}
	}
	c, _ := newTestCache(t, Settings{TagHeaders: []string{"x-key"}})
	if got := c.Settings().TagHeaders; fmt.Sprint(got) != "[X-Key]" {
		t.Errorf("TagHeaders %q, want canonical", got)
	}
	if got := (Settings{}).withDefaults().TagHeaders; fmt.Sprint(got) != "[Surrogate-Key Cache-Tag]" {
		t.Errorf("default TagHeaders %q", got)
	}
}
