package caddytest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// stallingHeadBackend answers every request, once its head is in, with
// head and then nothing: it neither reads the body nor closes, until the
// proxy closes the connection.
func stallingHeadBackend(t *testing.T, head string) string {
	return rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, head)
		io.Copy(io.Discard, br) // until the proxy closes
	})
}

// startErrorLogged starts Caddy with the smartproxy handler h and its
// error log (http.log.error, from DEBUG on: a 4xx is logged at DEBUG)
// written as JSON to the file it returns.
func startErrorLogged(t *testing.T, h map[string]any) string {
	t.Helper()
	h["handler"] = "smartproxy"
	hj, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	logFile := t.TempDir() + "/error.log"
	cfg := fmt.Sprintf(`{
	"admin": {"listen": "localhost:2999"},
	"logging": {"logs": {
		"default": {"level": "ERROR", "exclude": ["http.log.error"]},
		"errors": {"level": "DEBUG", "include": ["http.log.error"],
			"writer": {"output": "file", "filename": %q}, "encoder": {"format": "json"}}}},
	"apps": {"http": {"servers": {"sp": {
		"listen": [%q],
		"automatic_https": {"disable": true},
		"routes": [{"handle": [%s]}]
	}}}}
}`, logFile, proxyAddr, hj)
	tester := caddytest.NewTester(t)
	tester.InitServer(cfg, "json")
	if t.Failed() {
		t.FailNow()
	}
	return logFile
}

// errorLogFor waits for the error log's entry with status and returns its
// message ("" if none came).
func errorLogFor(logFile string, status int) string {
	var msg string
	eventually(3*time.Second, func() bool {
		raw, _ := os.ReadFile(logFile)
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var e struct {
				Msg    string `json:"msg"`
				Status int    `json:"status"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Status == status {
				msg = e.Msg
				return true
			}
		}
		return false
	})
	return msg
}

// A client sends a body with "Expect: 100-continue"; the backend begins
// its answer's head and stalls inside it while the proxy waits for its
// go-ahead. The read that timed out is the cause: 504, and the error log
// names a timeout, never the parse error of the head's partial last line
// (502). Both bounds: timeouts.read firing inside the head during the
// wait, and the wait's own timer (1s) firing inside it, after which the
// head's rest is awaited under the header timeout.
func TestAttackContinueWaitStalledHead(t *testing.T) {
	for _, tc := range []struct {
		name     string
		head     string
		timeouts map[string]any
		want     string // in the error log's message
		atLeast  time.Duration
	}{
		{"read timeout inside a final head", "HTTP/1.1 200 OK\r\nCont",
			map[string]any{"read": "300ms"}, "read timeout", 300 * time.Millisecond},
		{"read timeout inside 100 Continue", "HTTP/1.1 100 Cont",
			map[string]any{"read": "300ms"}, "read timeout", 300 * time.Millisecond},
		{"header timeout after the continue wait", "HTTP/1.1 200 OK\r\nCont",
			map[string]any{"response_header": "300ms"}, "h1: timeout awaiting response headers", time.Second + 300*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := stallingHeadBackend(t, tc.head)
			logFile := startErrorLogged(t, map[string]any{
				"backends": []map[string]any{{"url": url}},
				"timeouts": tc.timeouts,
				"retries":  map[string]any{"count": 0},
			})
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				ExpectContinueTimeout: 10 * time.Second, DisableKeepAlives: true}}
			req, err := http.NewRequest("PUT", proxyURL+"/upload", strings.NewReader("payload"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Expect", "100-continue")
			begin := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(resp)
			el := time.Since(begin)
			if resp.StatusCode != http.StatusGatewayTimeout {
				t.Fatalf("status %d after %v, want 504", resp.StatusCode, el)
			}
			if el < tc.atLeast || el > 8*time.Second {
				t.Errorf("504 after %v, want it at the timeout (%v)", el, tc.atLeast)
			}
			msg := errorLogFor(logFile, http.StatusGatewayTimeout)
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "malformed") {
				t.Errorf("error log %q, want it to name the %s", msg, tc.want)
			}
		})
	}
}
