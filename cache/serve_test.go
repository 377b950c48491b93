package cache

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRequestDirectives stores a response with max-age=100 at t0, moves
// the clock, then sends a request with the given Cache-Control.
func TestRequestDirectives(t *testing.T) {
	tests := []struct {
		name      string
		respCC    string
		advance   time.Duration
		reqCC     string
		want      Status
		wantCalls int32
		wantCode  int
	}{
		{"plain hit", "max-age=100", 10 * time.Second, "", StatusHit, 1, 200},
		{"no-cache forwards", "max-age=100", 10 * time.Second, "no-cache", StatusRequest, 2, 200},
		{"max-age=0 forwards", "max-age=100", 10 * time.Second, "max-age=0", StatusRequest, 2, 200},
		{"max-age larger than age hits", "max-age=100", 10 * time.Second, "max-age=20", StatusHit, 1, 200},
		{"min-fresh satisfied", "max-age=100", 10 * time.Second, "min-fresh=80", StatusHit, 1, 200},
		{"min-fresh unsatisfied", "max-age=100", 10 * time.Second, "min-fresh=95", StatusRequest, 2, 200},
		{"max-stale within", "max-age=100", 130 * time.Second, "max-stale=60", StatusHit, 1, 200},
		{"max-stale beyond", "max-age=100", 170 * time.Second, "max-stale=60", StatusExpired, 2, 200},
		{"bare max-stale", "max-age=100", time.Hour, "max-stale", StatusHit, 1, 200},
		{"max-stale vs must-revalidate", "max-age=100, must-revalidate", 130 * time.Second, "max-stale=60", StatusExpired, 2, 200},
		{"only-if-cached hit", "max-age=100", 10 * time.Second, "only-if-cached", StatusHit, 1, 200},
		{"only-if-cached stale 504", "max-age=100", 200 * time.Second, "only-if-cached", StatusOnlyIfCached, 1, 504},
		{"no-store may use stored", "max-age=100", 10 * time.Second, "no-store", StatusHit, 1, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newTestCache(t, Settings{})
			o := &origin{handler: respond(200, "v", "Cache-Control", tc.respCC)}
			do(t, c, "GET", "http://example.com/r", o.fetch)
			clk.Advance(tc.advance)
			var kv []string
			if tc.reqCC != "" {
				kv = []string{"Cache-Control", tc.reqCC}
			}
			w, st := do(t, c, "GET", "http://example.com/r", o.fetch, kv...)
			if st != tc.want || w.Code != tc.wantCode || o.calls.Load() != tc.wantCalls {
				t.Fatalf("got %s code %d calls %d; want %s %d %d (Cache-Status %q)",
					st, w.Code, o.calls.Load(), tc.want, tc.wantCode, tc.wantCalls, cacheStatusOf(w))
			}
		})
	}
}

func TestOnlyIfCachedColdIs504(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "v")}
	w, st := do(t, c, "GET", "http://example.com/cold", o.fetch, "Cache-Control", "only-if-cached")
	if w.Code != http.StatusGatewayTimeout || st != StatusOnlyIfCached || o.calls.Load() != 0 {
		t.Fatalf("code %d status %s calls %d", w.Code, st, o.calls.Load())
	}
}

func TestRequestNoStoreNotStored(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "v", "Cache-Control", "max-age=100")}
	do(t, c, "GET", "http://example.com/ns", o.fetch, "Cache-Control", "no-store")
	if _, st := do(t, c, "GET", "http://example.com/ns", o.fetch); st != StatusMiss {
		t.Fatalf("after request no-store: %s", st)
	}
}

// TestStorability checks which responses are stored: the second request
// is a hit exactly when the first response was stored.
func TestStorability(t *testing.T) {
	tests := []struct {
		name       string
		s          Settings
		reqHeader  []string
		respHeader []string
		status     int
		stored     bool
		detail     string
	}{
		{"public max-age", Settings{}, nil, []string{"Cache-Control", "public, max-age=60"}, 200, true, ""},
		{"no-store", Settings{TTL: time.Hour}, nil, []string{"Cache-Control", "no-store, max-age=60"}, 200, false, "no-store"},
		{"private", Settings{TTL: time.Hour}, nil, []string{"Cache-Control", "private, max-age=60"}, 200, false, "private"},
		{"authorization plain", Settings{}, []string{"Authorization", "Bearer x"}, []string{"Cache-Control", "max-age=60"}, 200, false, "authorization"},
		{"authorization public", Settings{}, []string{"Authorization", "Bearer x"}, []string{"Cache-Control", "public, max-age=60"}, 200, true, ""},
		{"authorization s-maxage", Settings{}, []string{"Authorization", "Bearer x"}, []string{"Cache-Control", "s-maxage=60"}, 200, true, ""},
		{"authorization must-revalidate", Settings{}, []string{"Authorization", "Bearer x"}, []string{"Cache-Control", "max-age=60, must-revalidate"}, 200, true, ""},
		{"cookie plain", Settings{}, []string{"Cookie", "session=alice"}, []string{"Cache-Control", "max-age=60"}, 200, false, "cookie"},
		{"cookie public", Settings{}, []string{"Cookie", "session=alice"}, []string{"Cache-Control", "public, max-age=60"}, 200, true, ""},
		{"cookie s-maxage", Settings{}, []string{"Cookie", "session=alice"}, []string{"Cache-Control", "s-maxage=60"}, 200, true, ""},
		{"cookie must-revalidate", Settings{}, []string{"Cookie", "session=alice"}, []string{"Cache-Control", "max-age=60, must-revalidate"}, 200, false, "cookie"},
		{"set-cookie refused", Settings{}, nil, []string{"Cache-Control", "max-age=60", "Set-Cookie", "id=1"}, 200, false, "set-cookie"},
		{"set-cookie allowed", Settings{AllowSetCookie: true}, nil, []string{"Cache-Control", "max-age=60", "Set-Cookie", "id=1"}, 200, true, ""},
		{"vary star", Settings{}, nil, []string{"Cache-Control", "max-age=60", "Vary", "*"}, 200, false, "vary-star"},
		{"404 heuristic", Settings{TTL: time.Minute}, nil, nil, 404, true, ""},
		{"500 no heuristic", Settings{TTL: time.Minute}, nil, nil, 500, false, "status"},
		{"302 explicit", Settings{}, nil, []string{"Cache-Control", "max-age=60", "Location", "/x"}, 302, true, ""},
		{"302 heuristic refused", Settings{TTL: time.Minute}, nil, []string{"Location", "/x"}, 302, false, "status"},
		{"206 never", Settings{}, nil, []string{"Cache-Control", "max-age=60"}, 206, false, "status"},
		{"declared trailers", Settings{}, nil, []string{"Cache-Control", "max-age=60", "Trailer", "X-Sum"}, 200, false, "trailers"},
		{"not fresh, no validator", Settings{}, nil, []string{"Cache-Control", "max-age=0"}, 200, false, "not-fresh"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCache(t, tc.s)
			o := &origin{handler: respond(tc.status, "body", tc.respHeader...)}
			w, _ := do(t, c, "GET", "http://example.com/s", o.fetch, tc.reqHeader...)
			cs := cacheStatusOf(w)
			if tc.stored != strings.Contains(cs, "; stored") {
				t.Fatalf("first Cache-Status %q, stored want %v", cs, tc.stored)
			}
			if tc.detail != "" && !strings.HasSuffix(cs, "detail="+tc.detail) {
				t.Fatalf("Cache-Status %q, want detail=%s", cs, tc.detail)
			}
			w, st := do(t, c, "GET", "http://example.com/s", o.fetch, tc.reqHeader...)
			if (st == StatusHit) != tc.stored {
				t.Fatalf("second request %s, stored want %v", st, tc.stored)
			}
			if w.Code != tc.status || w.Body.String() != "body" {
				t.Fatalf("second response %d %q", w.Code, w.Body.String())
			}
			if tc.stored && tc.s.AllowSetCookie && w.Header().Get("Set-Cookie") != "id=1" {
				t.Fatalf("stored Set-Cookie not replayed")
			}
		})
	}
}

func TestHopByHopNotStored(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "b",
		"Cache-Control", "max-age=60", "Connection", "X-Private-Hop", "X-Private-Hop", "1",
		"Keep-Alive", "timeout=5", "Proxy-Authenticate", "Basic", "X-Kept", "yes")}
	do(t, c, "GET", "http://example.com/h", o.fetch)
	w, st := do(t, c, "GET", "http://example.com/h", o.fetch)
	if st != StatusHit {
		t.Fatalf("status %s", st)
	}
	for _, h := range []string{"Connection", "X-Private-Hop", "Keep-Alive", "Proxy-Authenticate"} {
		if v := w.Header().Get(h); v != "" {
			t.Errorf("hop-by-hop %s = %q served from cache", h, v)
		}
	}
	if w.Header().Get("X-Kept") != "yes" || w.Header().Get("Content-Length") != "1" {
		t.Errorf("end-to-end headers lost: %v", w.Header())
	}
}

func TestVary(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		body := "plain"
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			body = "gzip"
			w.Header().Set("Content-Encoding", "gzip")
		}
		w.Header().Set("Vary", "accept-encoding")
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte(body))
	}}
	steps := []struct {
		ae, want string
		status   Status
		fwd      string
	}{
		{"gzip, br", "gzip", StatusMiss, "fwd=uri-miss"},
		{"", "plain", StatusMiss, "fwd=vary-miss"},
		{"GZIP,br", "gzip", StatusHit, "hit"},
		{"", "plain", StatusHit, "hit"},
		{"identity", "plain", StatusMiss, "fwd=vary-miss"},
	}
	for i, s := range steps {
		var kv []string
		if s.ae != "" {
			kv = []string{"Accept-Encoding", s.ae}
		}
		w, st := do(t, c, "GET", "http://example.com/v", o.fetch, kv...)
		if st != s.status || w.Body.String() != s.want || !strings.Contains(cacheStatusOf(w), s.fwd) {
			t.Fatalf("step %d (%q): %s %q %q", i, s.ae, st, w.Body.String(), cacheStatusOf(w))
		}
	}
	if n := c.Stats().Entries; n != 3 {
		t.Fatalf("entries %d, want 3 variants", n)
	}
	if n := c.Purge("GET http://example.com/v"); n != 3 {
		t.Fatalf("purge removed %d, want 3", n)
	}
}

func TestVaryStarNeverServed(t *testing.T) {
	c, _ := newTestCache(t, Settings{TTL: time.Hour})
	o := &origin{handler: respond(200, "x", "Vary", "Accept, *")}
	for range 3 {
		if _, st := do(t, c, "GET", "http://example.com/star", o.fetch); st != StatusMiss {
			t.Fatalf("status %s", st)
		}
	}
	if o.calls.Load() != 3 {
		t.Fatalf("calls %d", o.calls.Load())
	}
}

func TestHeadFromStoredGet(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "hello", "Cache-Control", "max-age=60", "Content-Type", "text/plain")}
	do(t, c, "GET", "http://example.com/h", o.fetch)
	w, st := do(t, c, "HEAD", "http://example.com/h", o.fetch)
	if st != StatusHit || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "5" || w.Header().Get("Content-Type") != "text/plain" {
		t.Fatalf("HEAD: %s body %q headers %v", st, w.Body.String(), w.Header())
	}
	if o.calls.Load() != 1 {
		t.Fatalf("calls %d", o.calls.Load())
	}
	// A HEAD miss is forwarded as HEAD and stores nothing.
	do(t, c, "HEAD", "http://example.com/other", o.fetch)
	if _, st := do(t, c, "GET", "http://example.com/other", o.fetch); st != StatusMiss {
		t.Fatalf("GET after HEAD miss: %s", st)
	}
}

func TestClientConditionalFromCache(t *testing.T) {
	lm := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "body", "Cache-Control", "max-age=60", "ETag", `"v1"`, "Last-Modified", lm.Format(http.TimeFormat))}
	do(t, c, "GET", "http://example.com/c", o.fetch)
	tests := []struct {
		name string
		kv   []string
		code int
	}{
		{"etag match", []string{"If-None-Match", `"v0", "v1"`}, 304},
		{"weak etag match", []string{"If-None-Match", `W/"v1"`}, 304},
		{"star", []string{"If-None-Match", "*"}, 304},
		{"etag mismatch", []string{"If-None-Match", `"v2"`}, 200},
		{"ims not modified", []string{"If-Modified-Since", lm.Add(time.Hour).Format(http.TimeFormat)}, 304},
		{"ims modified", []string{"If-Modified-Since", lm.Add(-time.Hour).Format(http.TimeFormat)}, 200},
		{"inm wins over ims", []string{"If-None-Match", `"v2"`, "If-Modified-Since", lm.Format(http.TimeFormat)}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, st := do(t, c, "GET", "http://example.com/c", o.fetch, tc.kv...)
			if st != StatusHit || w.Code != tc.code {
				t.Fatalf("%s %d, want hit %d", st, w.Code, tc.code)
			}
			if tc.code == 304 && (w.Body.Len() != 0 || w.Header().Get("ETag") != `"v1"` || w.Header().Get("Content-Length") != "") {
				t.Fatalf("bad 304: %q %v", w.Body.String(), w.Header())
			}
		})
	}
	if o.calls.Load() != 1 {
		t.Fatalf("calls %d", o.calls.Load())
	}
}

func TestBypass(t *testing.T) {
	c, _ := newTestCache(t, Settings{TTL: time.Hour})
	o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60")}
	do(t, c, "GET", "http://example.com/b", o.fetch)
	for _, tc := range []struct {
		method string
		kv     []string
	}{
		{"GET", []string{"Range", "bytes=0-0,2-3"}}, // several ranges: the origin's
		{"GET", []string{"If-Match", `"x"`}},
		{"OPTIONS", nil},
	} {
		if _, st := do(t, c, tc.method, "http://example.com/b", o.fetch, tc.kv...); st != StatusBypass {
			t.Fatalf("%s %v: %s", tc.method, tc.kv, st)
		}
	}
	if o.calls.Load() != 4 {
		t.Fatalf("calls %d", o.calls.Load())
	}
}

func TestUpstreamCacheStatusKept(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60", "Cache-Status", "origin-cdn; hit")}
	w, _ := do(t, c, "GET", "http://example.com/cs", o.fetch)
	if got := w.Header().Values("Cache-Status"); len(got) != 2 || got[0] != "origin-cdn; hit" || got[1] != "smartproxy; fwd=uri-miss; stored" {
		t.Fatalf("miss Cache-Status %q", got)
	}
	w, _ = do(t, c, "GET", "http://example.com/cs", o.fetch)
	if got := w.Header().Values("Cache-Status"); len(got) != 2 || got[0] != "origin-cdn; hit" || got[1] != "smartproxy; hit" {
		t.Fatalf("hit Cache-Status %q", got)
	}
}

// TestInvalidCacheControl: a response whose Cache-Control has an
// unterminated quoted string is not stored; a request's is ignored.
func TestInvalidCacheControl(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	bad := &origin{handler: respond(200, "b", "Cache-Control", `public, max-age=600, x="open`)}
	w, _ := do(t, c, "GET", "http://example.com/bad", bad.fetch)
	if cs := cacheStatusOf(w); !strings.HasSuffix(cs, "detail=invalid-cache-control") {
		t.Fatalf("Cache-Status %q", cs)
	}
	if _, st := do(t, c, "GET", "http://example.com/bad", bad.fetch); st == StatusHit {
		t.Fatal("response with invalid Cache-Control stored")
	}

	good := &origin{handler: respond(200, "g", "Cache-Control", "max-age=600")}
	do(t, c, "GET", "http://example.com/good", good.fetch)
	// no-cache inside an invalid field is not acted on: still a hit.
	if _, st := do(t, c, "GET", "http://example.com/good", good.fetch, "Cache-Control", `no-cache, x="`); st != StatusHit {
		t.Fatalf("invalid request Cache-Control acted on: %s", st)
	}
}
