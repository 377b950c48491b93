package caddytest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// stallingBackend reads one request head from each connection, reports
// it on got, and then reads on without answering until the proxy closes
// the connection, which it reports on closed.
func stallingBackend(t *testing.T) (url string, got, closed chan struct{}) {
	t.Helper()
	got, closed = make(chan struct{}, 8), make(chan struct{}, 8)
	url = rawBackend(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(20 * time.Second)) // outlives no test
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		got <- struct{}{}
		io.Copy(io.Discard, br)
		closed <- struct{}{}
	})
	return url, got, closed
}

// TestClientGoneClosesBackendConnection: a client that leaves while the
// backend has not answered gets the backend connection closed soon after
// (within the transport's context check, 200-250 ms, for a request
// without a body; at once for one with a body), long before the header
// timeout, so an abandoned request holds no backend connection.
func TestClientGoneClosesBackendConnection(t *testing.T) {
	url, got, closed := stallingBackend(t)
	start(t, map[string]any{
		"backends": []map[string]any{{"url": url}},
		"timeouts": map[string]any{"response_header": "1m"},
	})
	for _, tc := range []struct{ name, req string }{
		{"without a body", "GET /slow HTTP/1.1\r\nHost: example.com\r\n\r\n"},
		{"with a body", "POST /slow HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", proxyAddr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("the request never reached the backend")
			}
			c.Close()
			left := time.Now()
			select {
			case <-closed:
				t.Logf("backend connection closed %v after the client left", time.Since(left))
			case <-time.After(10 * time.Second):
				t.Fatal("the backend connection outlived its client by 10s")
			}
		})
	}
}

// TestSlowAnswerOutlivesContextCheck: a backend slower to answer and to
// stream its body than the transport's context check still gets its
// answer through whole to a client that waits.
func TestSlowAnswerOutlivesContextCheck(t *testing.T) {
	b := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "slow ")
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "answ")
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "r")
	})
	start(t, map[string]any{"backends": backends(b)})
	c := newClient()
	for i := range 2 {
		began := time.Now()
		code, body := get(t, c, "/")
		if code != 200 || body != "slow answr" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		if el := time.Since(began); el < 900*time.Millisecond {
			t.Fatalf("answered in %v: the backend was not slow, the test proves nothing", el)
		}
	}
	if n := b.hits.Load(); n != 2 {
		t.Fatalf("backend saw %d requests, want 2", n)
	}
}
