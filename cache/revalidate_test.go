package cache

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRevalidateETag304(t *testing.T) {
	c, clk := newTestCache(t, Settings{})
	version := "1"
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"e1"` {
			w.Header().Set("Cache-Control", "max-age=100")
			w.Header().Set("X-Version", version)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		respond(200, "stored body", "Cache-Control", "max-age=10", "ETag", `"e1"`, "X-Version", version)(w, r)
	}}
	do(t, c, "GET", "http://example.com/e", o.fetch)
	clk.Advance(20 * time.Second)
	version = "2"
	w, st := do(t, c, "GET", "http://example.com/e", o.fetch)
	if st != StatusRevalidated || w.Code != 200 || w.Body.String() != "stored body" {
		t.Fatalf("revalidation: %s %d %q", st, w.Code, w.Body.String())
	}
	if got := o.lastReq.Load().Header.Get("If-None-Match"); got != `"e1"` {
		t.Fatalf("forwarded If-None-Match %q", got)
	}
	if w.Header().Get("X-Version") != "2" || w.Header().Get("Content-Length") != "11" || w.Header().Get("Age") != "0" {
		t.Fatalf("headers not refreshed: %v", w.Header())
	}
	if cs := cacheStatusOf(w); cs != "smartproxy; fwd=stale; fwd-status=304; stored" {
		t.Fatalf("Cache-Status %q", cs)
	}
	// The refreshed entry now has max-age=100 from the 304.
	clk.Advance(50 * time.Second)
	w, st = do(t, c, "GET", "http://example.com/e", o.fetch)
	if st != StatusHit || w.Header().Get("X-Version") != "2" || w.Header().Get("Age") != "50" {
		t.Fatalf("after refresh: %s %v", st, w.Header())
	}
	if o.calls.Load() != 2 || c.Stats().Revalidated != 1 {
		t.Fatalf("calls %d stats %+v", o.calls.Load(), c.Stats())
	}
}

func TestRevalidateLastModifiedChanged(t *testing.T) {
	c, clk := newTestCache(t, Settings{})
	lm := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	body := "old"
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		respond(200, body, "Cache-Control", "max-age=10", "Last-Modified", lm)(w, r)
	}}
	do(t, c, "GET", "http://example.com/lm", o.fetch)
	clk.Advance(time.Minute)
	body = "new"
	w, st := do(t, c, "GET", "http://example.com/lm", o.fetch)
	if st != StatusExpired || w.Body.String() != "new" {
		t.Fatalf("%s %q", st, w.Body.String())
	}
	if got := o.lastReq.Load().Header.Get("If-Modified-Since"); got != lm {
		t.Fatalf("If-Modified-Since %q", got)
	}
	if w, st := do(t, c, "GET", "http://example.com/lm", o.fetch); st != StatusHit || w.Body.String() != "new" {
		t.Fatalf("new response not stored: %s %q", st, w.Body.String())
	}
}

func TestResponseNoCacheAlwaysRevalidated(t *testing.T) {
	c, _ := newTestCache(t, Settings{TTL: time.Hour})
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") != "" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		respond(200, "nc", "Cache-Control", "no-cache", "ETag", `"n"`)(w, r)
	}}
	do(t, c, "GET", "http://example.com/nc", o.fetch)
	for i := range 3 {
		w, st := do(t, c, "GET", "http://example.com/nc", o.fetch)
		if st != StatusRevalidated || w.Body.String() != "nc" {
			t.Fatalf("request %d: %s %q", i, st, w.Body.String())
		}
	}
	if o.calls.Load() != 4 {
		t.Fatalf("calls %d", o.calls.Load())
	}
}

func TestClientConditionalOnMissPassesThrough(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"a"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		respond(200, "a", "ETag", `"a"`, "Cache-Control", "max-age=60")(w, r)
	}}
	w, _ := do(t, c, "GET", "http://example.com/cc", o.fetch, "If-None-Match", `"a"`)
	if w.Code != 304 || !strings.Contains(cacheStatusOf(w), "detail=status") {
		t.Fatalf("%d %q", w.Code, cacheStatusOf(w))
	}
	if _, st := do(t, c, "GET", "http://example.com/cc", o.fetch); st != StatusMiss {
		t.Fatalf("304 was stored: %s", st)
	}
}

// A 304 may carry what makes the refreshed response unfit for a shared
// cache: a Set-Cookie for this client, private, no-store. This client gets
// it; no later client does (found by the conformance work: the refreshed
// entry used to be stored whatever the 304 said but no-store).
func TestRevalidate304NotStorable(t *testing.T) {
	for _, c := range []struct {
		name  string
		extra []string // header pairs the 304 adds
	}{
		{"set-cookie", []string{"Set-Cookie", "session=alice"}},
		{"private", []string{"Cache-Control", "private, max-age=100"}},
		{"no-store", []string{"Cache-Control", "no-store"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache, clk := newTestCache(t, Settings{})
			o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("If-None-Match") == `"e1"` {
					for i := 0; i < len(c.extra); i += 2 {
						w.Header().Add(c.extra[i], c.extra[i+1])
					}
					w.WriteHeader(http.StatusNotModified)
					return
				}
				respond(200, "shared body", "Cache-Control", "max-age=10", "ETag", `"e1"`)(w, r)
			}}
			do(t, cache, "GET", "http://example.com/c", o.fetch)
			clk.Advance(20 * time.Second)
			w, st := do(t, cache, "GET", "http://example.com/c", o.fetch)
			if st != StatusRevalidated || w.Body.String() != "shared body" {
				t.Fatalf("revalidation: %s %q", st, w.Body.String())
			}
			if c.name == "set-cookie" && w.Header().Get("Set-Cookie") != "session=alice" {
				t.Fatalf("the client whose request was revalidated lost its cookie: %v", w.Header())
			}
			if cs := cacheStatusOf(w); strings.Contains(cs, "stored") {
				t.Errorf("Cache-Status %q says the refreshed response was stored", cs)
			}
			// The next client: revalidated again, never handed the first
			// client's refreshed headers from the cache.
			o.handler = respond(200, "fresh body", "Cache-Control", "max-age=10")
			w, st = do(t, cache, "GET", "http://example.com/c", o.fetch)
			if got := w.Header().Get("Set-Cookie"); got != "" {
				t.Fatalf("another client got the cookie %q (status %s)", got, st)
			}
			if st == StatusHit {
				t.Fatalf("the refreshed response was served from cache to another client: %v", w.Header())
			}
		})
	}
}
