package caddytest

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// stickyClient is a client with a cookie jar, as a browser would be.
func stickyClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Jar: jar}
}

// stickyGet fetches path and returns the body and the sticky Set-Cookie
// (the raw header value, "" when none).
func stickyGet(t *testing.T, c *http.Client, path string, hdr ...string) (string, string) {
	t.Helper()
	resp, body := cacheGet(t, c, path, hdr...)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "sp_route=") {
			return body, sc
		}
	}
	return body, ""
}

// TestStickyCookie: the first answer sets the cookie; a browser that keeps
// it stays on that backend (across a reload, which keeps the generated
// secret) while the others share the rest; forged cookies are balanced; a
// drained backend's clients move and get a new cookie.
func TestStickyCookie(t *testing.T) {
	bs := []*backend{newBackend(t, "b0", nil), newBackend(t, "b1", nil), newBackend(t, "b2", nil)}
	cfg := map[string]any{
		"backends":      backends(bs...),
		"load_balancer": map[string]any{"algorithm": "round_robin", "sticky": map[string]any{"max_age": "1h"}},
	}
	start(t, cfg)
	alice := stickyClient(t)
	home, cookie := stickyGet(t, alice, "/")
	if cookie == "" || !strings.Contains(cookie, "; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax") || strings.Contains(cookie, "Secure") {
		t.Fatalf("first answer's cookie %q", cookie)
	}
	value := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], "sp_route=")
	for _, b := range bs {
		u, _ := url.Parse(b.URL)
		if strings.Contains(value, u.Port()) || strings.Contains(value, "127.0.0.1") || len(value) != 32 {
			t.Fatalf("cookie value %q reveals or is not a 32-digit token", value)
		}
	}
	check := func(when string) {
		t.Helper()
		for range 10 {
			body, again := stickyGet(t, alice, "/")
			if body != home {
				t.Fatalf("%s: alice went to %s, her cookie says %s", when, body, home)
			}
			if again != "" {
				t.Fatalf("%s: a request carrying the right cookie got a new one: %q", when, again)
			}
		}
	}
	check("after the first answer")
	// Clients without the cookie still rotate over all three.
	seen := map[string]bool{}
	for range 6 {
		body, _ := stickyGet(t, newClient(), "/")
		seen[body] = true
	}
	if len(seen) != 3 {
		t.Fatalf("cookieless clients saw %v", seen)
	}
	// Forged and oversized cookies are balanced, and replaced.
	for _, c := range []string{"sp_route=" + strings.Repeat("0", 32), "sp_route=" + strings.Repeat("x", 6000), strings.Repeat("sp_route=a; ", 300)} {
		if _, again := stickyGet(t, newClient(), "/", "Cookie", c); again == "" {
			t.Fatalf("cookie %.40q: no new cookie", c)
		}
	}
	// A reload keeps the generated secret, so the cookie still holds.
	cfg["timeout"] = "20s"
	h, _ := json.Marshal(cfg)
	loadConfig(t, serverJSON(string(h)))
	check("after a reload")
	// Drained through the admin API: alice moves and gets a new cookie;
	// her new backend then keeps her.
	var homeURL string
	for _, b := range bs {
		if b.name == home {
			homeURL = b.URL
		}
	}
	setState(t, homeURL, "drain", nil)
	moved, cookie2 := stickyGet(t, alice, "/")
	if moved == home || cookie2 == "" {
		t.Fatalf("drained: alice went to %s (cookie %q)", moved, cookie2)
	}
	home = moved
	check("after the drain")
}

// TestStickyRetryMovesOn: when the sticky backend is gone, the request is
// retried on another backend and the answer moves the client there.
func TestStickyRetryMovesOn(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	start(t, map[string]any{
		"backends":      backends(a, b),
		"load_balancer": map[string]any{"sticky": map[string]any{}},
	})
	c := stickyClient(t)
	home, _ := stickyGet(t, c, "/")
	gone, other := a, "b"
	if home == "b" {
		gone, other = b, "a"
	}
	gone.Close() // no health checks: the pick still names it, the dial fails
	body, cookie := stickyGet(t, c, "/")
	if body != other || cookie == "" {
		t.Fatalf("sticky backend gone: answered by %q with cookie %q", body, cookie)
	}
	if body, again := stickyGet(t, c, "/"); body != other || again != "" {
		t.Fatalf("then: %q, cookie %q", body, again)
	}
}
