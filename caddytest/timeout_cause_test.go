package caddytest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A backend takes a request and never answers. What ended the wait for
// its headers is what the client's status and the error log say: the
// header timeout (response_header), the per-read timeout (timeouts.read,
// shorter or longer than the 200-250 ms context check of a bodiless
// request, under the default 30s header timeout), each 504, named as
// itself and counted as the backend's failure; or the client leaving, 499,
// no timeout named and nothing counted against the backend, under a read
// timeout that had not fired yet.
func TestTimeoutCauseInErrorLog(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     bool
		timeouts map[string]any
		leave    bool // the client gives up after 300ms
		status   int
		want     string // in the error log's message
	}{
		{"header timeout", false, map[string]any{"response_header": "300ms"}, false, 504, "h1: timeout awaiting response headers"},
		{"read timeout before the context check", false, map[string]any{"read": "100ms"}, false, 504, "h1: read timeout"},
		{"read timeout after the context check", false, map[string]any{"read": "400ms"}, false, 504, "h1: read timeout"},
		{"read timeout, with a body", true, map[string]any{"read": "400ms"}, false, 504, "h1: read timeout"},
		{"client leaves", false, map[string]any{"read": "5s"}, true, 499, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := rawBackend(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.Copy(io.Discard, br) // until the proxy closes
			})
			logFile := startErrorLogged(t, map[string]any{
				"backends": []map[string]any{{"url": url}},
				"timeouts": tc.timeouts,
				"retries":  map[string]any{"count": 0},
			})
			client := &http.Client{Timeout: 10 * time.Second}
			if tc.leave {
				client.Timeout = 300 * time.Millisecond
			}
			var resp *http.Response
			var err error
			if tc.body {
				resp, err = client.Post(proxyURL+"/wait", "text/plain", strings.NewReader("payload"))
			} else {
				resp, err = client.Get(proxyURL + "/wait")
			}
			if tc.leave {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %d, want the client's own timeout", resp.StatusCode)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				readBody(resp)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
			}
			msg := errorLogFor(logFile, tc.status)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error log %q, want it to name %q", msg, tc.want)
			}
			if tc.status == 504 && tc.want != "h1: timeout awaiting response headers" && strings.Contains(msg, "h1: timeout awaiting") {
				t.Errorf("error log %q names the header timeout, which did not fire", msg)
			}
			if tc.leave && strings.Contains(msg, "timeout") {
				t.Errorf("error log %q names a timeout, the client left", msg)
			}
			// A timeout is the backend's failure (no answer); the client
			// leaving is not counted against it.
			failed := 0.0
			for k, v := range scrape(t) {
				if strings.HasPrefix(k, "caddy_smartproxy_requests_total{") &&
					strings.Contains(k, `backend="`+url+`"`) && strings.Contains(k, `code_class="error"`) {
					failed += v
				}
			}
			if want := map[bool]float64{false: 1, true: 0}[tc.leave]; failed != want {
				t.Errorf("requests_total{code_class=\"error\"} of the backend = %v, want %v", failed, want)
			}
		})
	}
}
