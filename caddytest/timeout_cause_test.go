package caddytest

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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
// answerThenStall starts a backend that reads a request, writes answer
// (if any) and then nothing, until the proxy closes the connection.
func answerThenStall(t *testing.T, answer string) string {
	return rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, answer)
		io.Copy(io.Discard, br)
	})
}

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
			url := answerThenStall(t, "")
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

// A backend sends a head and a quarter of its body, then stalls past
// timeouts.read. The status line is out, so the client keeps its 200: the
// proxy closes the client's connection (HTTP/1.1) or resets its stream
// (HTTP/2 over TLS) mid-body, so the cut body is never taken for a whole
// one, and the handler's log line names the per-read bound, never a bare
// "i/o timeout". The plain HTTP/1.1 client would be spliced to (a body of
// 256 KiB, Content-Length framed), but a connection under timeouts.read is
// copied from: its per-read bound lives in a wrapper that no splice sees.
func TestBodyReadTimeoutNamed(t *testing.T) {
	const total, sent = 256 << 10, 64 << 10
	url := answerThenStall(t, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", total, strings.Repeat("a", sent)))
	logFile := t.TempDir() + "/handler.log"
	startH2Logging(t, spRoute(map[string]any{
		"backends": []map[string]any{{"url": url}},
		"timeouts": map[string]any{"read": "300ms"},
		"retries":  map[string]any{"count": 0},
	}, nil), map[string]any{"logs": map[string]any{
		"default": map[string]any{"level": "ERROR", "exclude": []string{"http.handlers.smartproxy"}},
		"sp": map[string]any{"level": "WARN", "include": []string{"http.handlers.smartproxy"},
			"writer": map[string]any{"output": "file", "filename": logFile}, "encoder": map[string]any{"format": "json"}}}})
	clients := []struct {
		name  string
		url   string
		proto int
		c     *http.Client
	}{
		{"HTTP/1.1", "http://" + h2cAddr + "/cut", 1, &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{DisableKeepAlives: true}}},
		{"HTTP/2 over TLS", "https://" + h2tAddr + "/cut", 2, &http.Client{Timeout: 10 * time.Second,
			Transport: &http.Transport{ForceAttemptHTTP2: true, DisableKeepAlives: true,
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}, // the test's own CA
	}
	for i, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			begin := time.Now()
			resp, err := cl.c.Get(cl.url)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != cl.proto {
				t.Fatalf("%s %d, want %d over HTTP/%d", resp.Proto, resp.StatusCode, 200, cl.proto)
			}
			if err == nil || n >= total {
				t.Fatalf("read %d of %d bytes, err %v: want the body cut with an error", n, total, err)
			}
			if d := time.Since(begin); d < 300*time.Millisecond {
				t.Errorf("cut after %v, before timeouts.read (300ms) could pass", d)
			}
			msgs := handlerLogLines(logFile, i+1)
			if len(msgs) != i+1 {
				t.Fatalf("handler log: %q, want %d lines", msgs, i+1)
			}
			if got := msgs[i]; !strings.Contains(got, "backend failed during response body") ||
				!strings.Contains(got, "h1: read timeout reading response body") || strings.Contains(got, "i/o timeout") {
				t.Errorf("handler log %q, want the body's read timeout named", got)
			}
		})
	}
}

// handlerLogLines waits (up to 3 s) for n lines in the handler's log and
// returns each as "msg: error".
func handlerLogLines(logFile string, n int) []string {
	var out []string
	eventually(3*time.Second, func() bool {
		raw, _ := os.ReadFile(logFile)
		out = out[:0]
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var e struct {
				Msg   string `json:"msg"`
				Error string `json:"error"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Msg != "" {
				out = append(out, e.Msg+": "+e.Error)
			}
		}
		return len(out) >= n
	})
	return out
}
