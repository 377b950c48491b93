package cache

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func fill(t *testing.T, c *Cache, o *origin, paths ...string) {
	t.Helper()
	for _, p := range paths {
		do(t, c, "GET", "http://example.com"+p, o.fetch)
	}
}

func hit(t *testing.T, c *Cache, o *origin, p string) bool {
	t.Helper()
	_, st := do(t, c, "GET", "http://example.com"+p, o.fetch)
	return st == StatusHit
}

func TestEvictionByCount(t *testing.T) {
	c, _ := newTestCache(t, Settings{MaxSize: 3})
	o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=600")}
	fill(t, c, o, "/1", "/2", "/3")
	if !hit(t, c, o, "/1") { // /1 becomes most recent; /2 is now the coldest
		t.Fatal("/1 not cached")
	}
	fill(t, c, o, "/4")
	st := c.Stats()
	if st.Entries != 3 || st.Evictions != 1 {
		t.Fatalf("stats %+v", st)
	}
	for p, want := range map[string]bool{"/1": true, "/3": true, "/4": true} {
		if hit(t, c, o, p) != want {
			t.Errorf("%s cached = %v", p, !want)
		}
	}
	if hit(t, c, o, "/2") {
		t.Error("/2 (least recently used) survived")
	}
}

func TestEvictionByBytes(t *testing.T) {
	body := strings.Repeat("b", 1000)
	c, _ := newTestCache(t, Settings{MaxBytes: 6000, MaxEntryBytes: 1500})
	o := &origin{handler: respond(200, body, "Cache-Control", "max-age=600")}
	fill(t, c, o, "/1", "/2", "/3", "/4")
	st := c.Stats()
	if st.Bytes > 6000 || st.Entries >= 4 || st.Evictions == 0 {
		t.Fatalf("byte budget not kept: %+v", st)
	}
	if hit(t, c, o, "/1") {
		t.Error("oldest entry survived")
	}
	if !hit(t, c, o, "/4") {
		t.Error("newest entry evicted")
	}
	if c.PurgeAll(); c.Stats().Bytes != 0 {
		t.Fatalf("bytes after PurgeAll %d", c.Stats().Bytes)
	}
}

func TestPurge(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=600")}
	fill(t, c, o, "/static/a.css", "/static/b.js", "/api/x?q=1", "/api/x?q=2")
	tests := []struct {
		name string
		op   func() int
		want int
		left int
	}{
		{"missing key", func() int { return c.Purge("GET http://example.com/none") }, 0, 4},
		{"exact key with query", func() int { return c.Purge("GET http://example.com/api/x?q=1") }, 1, 3},
		{"prefix", func() int { return c.PurgePrefix("GET http://example.com/static/") }, 2, 1},
		{"all", func() int { return c.PurgeAll() }, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.op(); got != tc.want {
				t.Fatalf("removed %d, want %d", got, tc.want)
			}
			if n := c.Stats().Entries; n != tc.left {
				t.Fatalf("entries %d, want %d", n, tc.left)
			}
		})
	}
	if hit(t, c, o, "/static/a.css") {
		t.Fatal("purged entry served")
	}
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name   string
		s      Settings
		target string
		want   string
	}{
		{"default", Settings{}, "http://Example.COM/a/b?x=1&y=2", "GET http://example.com/a/b?x=1&y=2"},
		{"escaped path", Settings{}, "http://example.com/a%20b", "GET http://example.com/a%20b"},
		{"https", Settings{}, "https://example.com/", "GET https://example.com/"},
		{"ignore query", Settings{IgnoreQuery: true}, "http://example.com/a?x=1", "GET http://example.com/a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCache(t, tc.s)
			o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60")}
			do(t, c, "GET", tc.target, o.fetch)
			if n := c.Purge(tc.want); n != 1 {
				t.Fatalf("key %q not stored (purge %d)", tc.want, n)
			}
		})
	}
	t.Run("custom key func", func(t *testing.T) {
		c, _ := newTestCache(t, Settings{KeyFunc: func(dst []byte, r *http.Request) []byte {
			return fmt.Appendf(dst, "k:%s", r.URL.Path)
		}})
		o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60")}
		do(t, c, "GET", "http://one.example/p?a=1", o.fetch)
		if !hit(t, c, o, "/p?b=2") {
			t.Fatal("custom key ignored")
		}
		if n := c.Purge("k:/p"); n != 1 {
			t.Fatalf("purge %d", n)
		}
	})
}
