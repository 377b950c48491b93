package caddytest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// trickleBackend answers each request on a connection with resp, written
// one byte every gap, and counts the connections it accepted.
type trickleBackend struct {
	url      string
	accepted atomic.Int64
}

func newTrickleBackend(t *testing.T, resp func(target string) string, gap time.Duration) *trickleBackend {
	t.Helper()
	b := &trickleBackend{}
	b.url = rawBackend(t, func(c net.Conn) {
		b.accepted.Add(1)
		br := bufio.NewReader(c)
		for {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			for _, ch := range []byte(resp(req.RequestURI)) {
				if _, err := c.Write([]byte{ch}); err != nil {
					return
				}
				time.Sleep(gap)
			}
		}
	})
	return b
}

// A backend trickles its answer, head and body, one byte every quarter
// of timeouts.read: no read waits as long as the timeout, so the answer
// must arrive whole, although the head takes many times the context
// check's 200-250 ms (the check's expiry, under the per-read timeout's
// wrapper, is not that timeout: the head reads on), and the backend
// connection then serves the next request. A backend whose trickle stops
// for longer than timeouts.read mid-head or mid-body is cut: 504 for the
// head, a cut body, and that connection is not reused.
func TestAttackTrickleUnderReadTimeout(t *testing.T) {
	const gap = 50 * time.Millisecond
	b := newTrickleBackend(t, func(target string) string {
		body := "path:" + target
		switch {
		case strings.HasPrefix(target, "/stall-head"):
			return "HTTP/1.1 200 OK\r\nContent-Le" // and nothing more
		case strings.HasPrefix(target, "/stall-body"):
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\npa", len(body))
		}
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}, gap)
	start(t, map[string]any{
		"backends": []map[string]any{{"url": b.url}},
		"timeouts": map[string]any{"read": "200ms"},
		"retries":  map[string]any{"count": 0},
	})
	client := &http.Client{Timeout: 20 * time.Second}
	for _, p := range []string{"/one", "/two"} {
		begin := time.Now()
		resp, err := client.Get(proxyURL + p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		body := readBody(resp)
		if resp.StatusCode != 200 || body != "path:"+p {
			t.Fatalf("%s: %d %q after %v, want the trickled answer whole", p, resp.StatusCode, body, time.Since(begin))
		}
	}
	if n := b.accepted.Load(); n != 1 {
		t.Errorf("%d backend connections, want the trickled one reused", n)
	}
	begin := time.Now()
	resp, err := client.Get(proxyURL + "/stall-head")
	if err != nil {
		t.Fatal(err)
	}
	readBody(resp)
	if resp.StatusCode != http.StatusGatewayTimeout || time.Since(begin) > 5*time.Second {
		t.Errorf("a head that stops trickling: %d after %v, want 504 soon after timeouts.read", resp.StatusCode, time.Since(begin))
	}
	// A client of its own: a client retries a GET whose reused connection
	// closes before any byte of the answer (the cut may come before the
	// proxy's buffered head is out).
	resp, err = freshClient().Get(proxyURL + "/stall-body")
	if err == nil {
		var got []byte
		got, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("a body that stops trickling: got %q whole, want it cut", got)
		}
	}
	resp, err = client.Get(proxyURL + "/after")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(resp); resp.StatusCode != 200 || body != "path:/after" {
		t.Errorf("after the stalls: %d %q, want its own answer", resp.StatusCode, body)
	}
	if n := b.accepted.Load(); n != 3 {
		t.Errorf("%d backend connections, want 3: each stalled one closed, never reused", n)
	}
}
