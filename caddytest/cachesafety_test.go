package caddytest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// user names who a request is from, by Authorization or Cookie.
func user(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		return strings.TrimPrefix(a, "Bearer ")
	}
	if c, err := r.Cookie("user"); err == nil {
		return c.Value
	}
	return "anonymous"
}

// Personal responses never reach another user through the cache, even
// from a backend that marks them cacheable without Vary or private; the
// cache key holds the host; the purge API is not reachable through a site.
func TestCacheNoCrossUserLeak(t *testing.T) {
	var logins atomic.Int64
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/login":
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Set-Cookie", fmt.Sprintf("session=%d", logins.Add(1)))
			io.WriteString(w, "welcome")
		case "/revalidated":
			// Stored (explicit freshness and a validator) but stale at
			// once: every request is revalidated, and the backend sets a
			// cookie on alice's 304.
			if r.Header.Get("If-None-Match") == `"v1"` {
				if r.Header.Get("X-User") == "alice" {
					w.Header().Set("Set-Cookie", "session=alice-only")
				}
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Cache-Control", "max-age=0")
			w.Header().Set("ETag", `"v1"`)
			io.WriteString(w, "shared page")
		default:
			w.Header().Set("Cache-Control", "max-age=60") // careless: neither private nor Vary
			fmt.Fprintf(w, "hello %s", user(r))
		}
	})
	start(t, map[string]any{"backends": backends(b), "cache": map[string]any{}})
	c := newClient()
	expect := func(path, want string, hdr ...string) *http.Response {
		t.Helper()
		resp, body := cacheGet(t, c, path, hdr...)
		if body != want {
			t.Fatalf("GET %s %v: %q, want %q", path, hdr, body, want)
		}
		return resp
	}

	// Responses to alice's and bob's requests are never stored; the
	// anonymous one is (the backend said max-age=60) and may be reused for
	// anyone, which shows nobody's data.
	for _, cred := range []struct{ name, header, alice, bob string }{
		{"authorization", "Authorization", "Bearer alice", "Bearer bob"},
		{"cookie", "Cookie", "user=alice", "user=bob"},
	} {
		t.Run(cred.name, func(t *testing.T) {
			path := "/" + cred.name
			expect(path, "hello alice", cred.header, cred.alice)
			expect(path, "hello bob", cred.header, cred.bob)
			expect(path, "hello anonymous")
			before := b.hits.Load()
			expect(path, "hello anonymous")
			if b.hits.Load() != before {
				t.Error("a cacheable response to a request without credentials was not reused")
			}
			for _, v := range []string{cred.alice, cred.bob} {
				if _, body := cacheGet(t, c, path, cred.header, v); body != "hello anonymous" && body != "hello "+strings.Fields(strings.NewReplacer("=", " ").Replace(v))[1] {
					t.Errorf("%s %q got %q: another user's response", cred.header, v, body)
				}
			}
		})
	}
	t.Run("set-cookie", func(t *testing.T) {
		first := expect("/login", "welcome").Header.Get("Set-Cookie")
		if first == "" {
			t.Fatal("the first client did not get its cookie")
		}
		if got := expect("/login", "welcome").Header.Get("Set-Cookie"); got == first {
			t.Fatalf("another client got the first one's cookie %q", got)
		}
	})
	t.Run("304 with set-cookie", func(t *testing.T) {
		expect("/revalidated", "shared page")
		if resp := expect("/revalidated", "shared page", "X-User", "alice"); resp.Header.Get("Set-Cookie") != "session=alice-only" {
			t.Fatalf("alice did not get her cookie on revalidation: %v", resp.Header)
		}
		for range 2 {
			if resp := expect("/revalidated", "shared page"); resp.Header.Get("Set-Cookie") != "" {
				t.Fatalf("another client got alice's cookie %q", resp.Header.Get("Set-Cookie"))
			}
		}
	})
	t.Run("purge only on the admin endpoint", func(t *testing.T) {
		expect("/kept", "hello anonymous")
		before := b.hits.Load()
		for _, path := range []string{"/smartproxy/cache/purge", "/smartproxy/cache/purge/"} {
			resp, err := c.Post(proxyURL+path, "application/json", strings.NewReader(`{"all": true}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		expect("/kept", "hello anonymous")
		if got := b.hits.Load() - before; got != 2 {
			// The two POSTs reach the backend (it owns the site's paths);
			// the cached page must still be a hit.
			t.Fatalf("backend saw %d requests after the POSTs, want 2 (the POSTs): the cached page was purged", got)
		}
	})
}
