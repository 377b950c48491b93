package caddytest

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Header changes both ways and strip_path_prefix (issue 17, parts 3 and
// 4), through a real Caddy to a real backend.
func TestHeadersAndStripPathPrefix(t *testing.T) {
	echo := newBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "backend/1.0")
		w.Header().Set("Connection", "X-Route") // hop-by-hop: names a field away
		w.Header().Set("X-Route", "from the backend")
		fmt.Fprintf(w, "path=%s real-ip=%s tag=%s cookie=%q xff=%s",
			r.URL.Path, r.Header.Get("X-Real-Ip"), strings.Join(r.Header.Values("X-Tag"), ","), r.Header.Get("Cookie"),
			r.Header.Get("X-Forwarded-For"))
	})
	start(t, map[string]any{
		"backends":          []map[string]any{{"url": echo.URL + "/svc"}},
		"strip_path_prefix": "/api",
		"headers": map[string]any{
			"request": map[string]any{
				"set":    map[string]string{"X-Real-IP": "{http.request.remote.host}", "X-Forwarded-For": "overridden"},
				"add":    map[string]string{"X-Tag": "proxy"},
				"delete": []string{"Cookie"},
			},
			"response": map[string]any{
				"set":    map[string]string{"X-Backend": "{http.smartproxy.backend}", "X-Route": "{http.smartproxy.route}"},
				"delete": []string{"Server"},
			},
		},
	})
	c := newClient()
	do := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", proxyURL+path, nil)
		req.Header.Set("X-Tag", "client")
		req.Header.Set("Cookie", "session=secret")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp, b.String()
	}
	resp, body := do("/api/users?x=1")
	for _, want := range []string{"path=/svc/users ", "real-ip=127.0.0.1 ", "tag=client,proxy ", `cookie=""`, "xff=overridden"} {
		if !strings.Contains(body, want) {
			t.Errorf("backend saw %q, want %q in it", body, want)
		}
	}
	if got := resp.Header.Get("X-Backend"); got != echo.URL+"/svc" {
		t.Errorf("X-Backend %q, want the backend that answered, %s/svc", got, echo.URL)
	}
	if got := resp.Header.Get("X-Route"); got != "default" {
		t.Errorf("X-Route %q: a field the backend's Connection named must still be set (after hop-by-hop stripping)", got)
	}
	if got := resp.Header.Get("Server"); got != "" && got != "Caddy" {
		t.Errorf("Server %q: deleted from the backend's response", got)
	}
	for path, want := range map[string]string{"/api": "path=/svc/ ", "/apix": "path=/svc/apix ", "/other/api": "path=/svc/other/api "} {
		if _, body := do(path); !strings.Contains(body, want) {
			t.Errorf("%s: backend saw %q, want %q", path, body, want)
		}
	}
}

// TestShapingPlaceholdersCannotInject: a placeholder that decodes to CR
// or LF (a query value) in host_header or a request header is refused
// with 400 and never reaches the backend as a header of its own.
func TestShapingPlaceholdersCannotInject(t *testing.T) {
	seen := newBackend(t, "seen", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "host=%s injected=%s", r.Host, r.Header.Get("X-Injected"))
	})
	serverCA := newTestCA(t, "server-ca")
	byIP, _, _ := serverCA.issue(t, false, nil, net.IPv4(127, 0, 0, 1))
	secure := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{byIP}})
	start(t, map[string]any{
		"backends": backends(seen),
		"routes": []map[string]any{
			{"path": "/host", "host_header": "{http.request.uri.query.h}"},
			{"path": "/tlshost", "host_header": "{http.request.uri.query.h}", "backends": []map[string]any{{"url": secure.URL}},
				"tls": map[string]any{"ca": serverCA.file}, "circuit_breaker": map[string]any{"failure_threshold": 1, "base_backoff": "1m"}},
			{"path": "/hdr", "headers": map[string]any{"request": map[string]any{"set": map[string]string{"X-Q": "{http.request.uri.query.h}"}}}},
		},
	})
	c := newClient()
	for _, path := range []string{"/host?h=a%0d%0aX-Injected:%201", "/hdr?h=a%0d%0aX-Injected:%201", "/hdr?h=a%00b",
		"/tlshost?h=a%0d%0aX-Injected:%201", "/tlshost?h=a%0d%0aX-Injected:%201"} {
		code, body := get(t, c, path)
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want 400", path, code, body)
		}
	}
	if n := seen.hits.Load(); n != 0 {
		t.Fatalf("the backend got %d requests with injected values", n)
	}
	if code, body := get(t, c, "/host?h=tenant.example"); code != 200 || body != "host=tenant.example injected=" {
		t.Fatalf("a clean value: %d %q", code, body)
	}
	// The refusals were the client's: the https backend's breaker
	// (threshold 1) did not open.
	if code, body := get(t, c, "/tlshost?h=tenant.example"); code != 200 || !strings.HasPrefix(body, "host=tenant.example ") {
		t.Fatalf("a clean value to the https backend after refused ones: %d %q", code, body)
	}
}
