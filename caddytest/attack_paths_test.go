package caddytest

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

// A backend configured with a path prefix (http://host/public) exposes
// only what lies under it. A request path with dot segments, plain or
// percent-encoded (separators too), must not climb out of it: the proxy
// refuses it with 400, and the backend never receives a path that resolves
// outside /public.
func TestAttackPathEscapesBackendPrefix(t *testing.T) {
	b := newAdvBackend(t)
	start(t, map[string]any{"backends": []map[string]any{{"url": b.URL + "/public"}}})
	if r := rawGet(t, "GET /ok.txt HTTP/1.1\r\nHost: x\r\n\r\n"); r.Status != 200 || r.Body != "path:/public/ok.txt" {
		t.Fatalf("an ordinary request: %d %q, want 200 from /public/ok.txt", r.Status, r.Body)
	}
	for _, target := range []string{
		"/../private/secret.txt",
		"/%2e%2e/private/secret.txt",
		"/%2E%2E/private/x",
		"/a/..%2f..%2fprivate",
		"/a/%2e%2e/%2e%2e/private",
	} {
		r := rawGet(t, "GET "+target+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if r.Status != http.StatusBadRequest {
			t.Errorf("GET %s: %d %q, want 400", target, r.Status, r.Body)
		}
	}
	for _, r := range b.requests() {
		if p := resolvedPath(r.Target); p != "/public" && !strings.HasPrefix(p, "/public/") {
			t.Errorf("the backend received %q, which resolves to %s, outside /public", r.Target, p)
		}
	}
}

// A route's rate limit cannot be dodged by spelling its path another way:
// every spelling of /login that resolves to it counts against the same
// bucket.
func TestAttackRateLimitDodgedByPathSpelling(t *testing.T) {
	b := newAdvBackend(t)
	be := []map[string]any{{"url": b.URL}}
	start(t, map[string]any{
		"backends": be,
		"routes": []map[string]any{{"path": "/login", "backends": be,
			"rate_limit": map[string]any{"requests_per_second": 0.01, "burst": 2}}},
	})
	spellings := []string{"/login", "/./login", "//login", "/x/../login", "/login/.", "/%2e/login", "/LOGIN/../login"}
	ok, limited := 0, 0
	var passed []string
	for i := range 21 {
		p := spellings[i%len(spellings)]
		r := rawGet(t, "POST "+p+" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
		switch {
		case r.Status == http.StatusTooManyRequests:
			limited++
		case r.Status >= 200 && r.Status < 300:
			ok++
			passed = append(passed, p)
		default:
			t.Errorf("POST %s: %d %q, want 2xx or 429", p, r.Status, r.Body)
		}
	}
	if ok > 2 {
		t.Errorf("%d of 21 logins passed a limit of burst 2 (passed: %v); %d were limited", ok, passed, limited)
	}
}

// resolvedPath is the path a backend that decodes percent-escapes
// (separators included) and then removes dot segments would serve for
// target: what a request can reach on the backend.
func resolvedPath(target string) string {
	p, _, _ := strings.Cut(target, "?")
	for range 3 { // double encoding too
		if d, err := url.PathUnescape(p); err == nil {
			p = d
		}
	}
	return path.Clean("/" + p)
}
