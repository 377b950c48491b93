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

// trickleUpload sends a chunked POST to the proxy one byte every interval,
// n times, and returns the answer's status and body (0 when none came).
func trickleUpload(t *testing.T, path string, n int, interval time.Duration) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", proxyAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Duration(n)*interval + 10*time.Second))
	if _, err := io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// An answer that comes while the upload is still trickling is read
	// after it; writes fail only if the proxy closed the connection.
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for range n {
		<-tick.C
		if _, err := io.WriteString(c, "1\r\na\r\n"); err != nil {
			break
		}
	}
	io.WriteString(c, "0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, readBody(resp)
}

// A slow client uploads for 6s to a route whose timeout is 2s. The
// timeout bounds the backend's answer, counted from the end of the
// request, not the client's upload: the upload succeeds to a plain-HTTP
// backend (the h1 transport) as it does to an h2c one (Caddy's transport).
func TestAttackSlowUploadCutByTimeout(t *testing.T) {
	adv := newAdvBackend(t)
	for _, tc := range []struct{ name, url, want string }{
		{"http", adv.URL, "path:/upload"},
		{"h2c", newH2CBackend(t, "c1"), "c1 HTTP/2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start(t, map[string]any{"backends": []map[string]any{{"url": tc.url}}, "timeout": "2s"})
			begin := time.Now()
			code, body := trickleUpload(t, "/upload", 12, 500*time.Millisecond)
			if code != 200 || !strings.HasPrefix(body, tc.want) {
				t.Fatalf("a 6s upload with timeout 2s: %d %q after %v, want 200 %q", code, body, time.Since(begin).Round(time.Millisecond), tc.want)
			}
		})
	}
	for _, r := range adv.find("/upload") {
		if string(r.Body) != strings.Repeat("a", 12) {
			t.Errorf("the http backend got the body %q, want the 12 bytes sent", r.Body)
		}
	}
}
