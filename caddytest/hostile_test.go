package caddytest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawExchange sends raw bytes to the proxy and returns the status line of
// the first answer ("" when the connection closed without one).
func rawExchange(t *testing.T, raw string) string {
	t.Helper()
	if lines := rawExchangeN(t, raw, 1); len(lines) > 0 {
		return lines[0]
	}
	return ""
}

// rawExchangeN sends raw bytes and reads up to n responses, keeping the
// connection open until then; it returns their status lines.
func rawExchangeN(t *testing.T, raw string, n int) []string {
	t.Helper()
	var lines []string
	for _, r := range rawDo(t, proxyAddr, "", raw, n) {
		lines = append(lines, r.Line)
	}
	return lines
}

// countingBackend counts the requests it receives, reading their bodies.
func countingBackend(t *testing.T) (*backend, *atomic.Int64) {
	var n atomic.Int64
	b := newBackend(t, "rec", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		io.WriteString(w, "ok")
	})
	return b, &n
}

func TestHostileRequestSmugglingIsNotForwarded(t *testing.T) {
	b, n := countingBackend(t)
	start(t, map[string]any{"backends": backends(b)})
	cases := []struct{ name, raw, wantStatus string }{
		// Both framings: Go's server takes Transfer-Encoding and drops
		// Content-Length (RFC 9112 §6.3); the proxy re-frames the body
		// itself, so the backend sees one request whose body is the chunked
		// payload, never the "smuggled" request after it.
		{"cl and te", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 "},
		{"two content lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd", "HTTP/1.1 400"},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "HTTP/1.1 "},
		{"invalid method", "G@T / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400"},
		{"bad header name", "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", "HTTP/1.1 400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := rawExchange(t, tc.raw)
			if !strings.HasPrefix(got, tc.wantStatus) && got != "" {
				t.Fatalf("status line %q, want %q...", got, tc.wantStatus)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	// The CL+TE request goes through as one request with the chunked
	// (empty) body, followed by the pipelined GET the proxy parsed itself;
	// the bad-chunk body fails mid-stream. Nothing else reaches the backend.
	if n.Load() > 3 {
		t.Fatalf("the backend saw %d requests from 5 hostile ones", n.Load())
	}
	code, _ := get(t, newClient(), "/smuggled-check")
	if code != 200 {
		t.Fatalf("a normal request after the hostile ones: %d", code)
	}
}

func TestHostileSmuggledRequestNeverReachesBackend(t *testing.T) {
	type seenReq struct {
		path, body string
		cl         []string
		te         []string
	}
	ch := make(chan seenReq, 100)
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- seenReq{r.URL.Path, string(body), r.Header["Content-Length"], r.TransferEncoding}
	})
	start(t, map[string]any{"backends": backends(b)})
	// Content-Length says the body is 44 bytes (the smuggled request),
	// Transfer-Encoding says it is empty. A proxy that forwarded these
	// bytes as they came would let a backend that believes Content-Length
	// see a different request stream than the proxy saw.
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	rawExchangeN(t, fmt.Sprintf("POST /front HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s",
		len("0\r\n\r\n")+len(smuggled), smuggled), 2)
	time.Sleep(100 * time.Millisecond)
	close(ch)
	var seen []seenReq
	for r := range ch {
		seen = append(seen, r)
	}
	if len(seen) == 0 || seen[0].path != "/front" {
		t.Fatalf("backend saw %+v", seen)
	}
	front := seen[0]
	// The backend gets the proxy's own framing: one request, an empty
	// body, never both length headers.
	if front.body != "" || (len(front.cl) > 0 && len(front.te) > 0) {
		t.Fatalf("the front request reached the backend ambiguously: %+v", front)
	}
	// Whatever came after it on the client connection was parsed by the
	// proxy as a request of its own (and so went through routing, limits
	// and logs): the proxy's count of proxied requests matches the
	// backend's.
	doc := getStatus(t)
	if got := doc.Routes[0].Backends[0].Requests; got != uint64(len(seen)) {
		t.Fatalf("the proxy forwarded %d requests, the backend saw %d (%+v): a request got past the proxy unseen", got, len(seen), seen)
	}
}

func TestHostileOversizedHeadersAreRefused(t *testing.T) {
	b, n := countingBackend(t)
	start(t, map[string]any{"backends": backends(b)})
	big := strings.Repeat("a", 2<<20) // over Caddy's default 1 MiB header limit
	got := rawExchange(t, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+big+"\r\n\r\n")
	if got != "" && !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Fatalf("2 MiB of headers: %q, want 431 or a closed connection", got)
	}
	if n.Load() != 0 {
		t.Fatal("an oversized request reached the backend")
	}
}

func TestHostileSlowlorisDoesNotStarveOthers(t *testing.T) {
	b, n := countingBackend(t)
	start(t, map[string]any{"backends": backends(b)})
	// Ten connections that trickle a header byte every 100ms.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		for range 10 {
			c, err := net.Dial("tcp", proxyAddr)
			if err != nil {
				continue
			}
			conns = append(conns, c)
			io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		}
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 30; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				for _, c := range conns {
					c.Write([]byte("a"))
				}
			}
		}
	}()
	c := newClient()
	begin := time.Now()
	for i := range 50 {
		if code, _ := get(t, c, "/fast"); code != 200 {
			t.Fatalf("request %d during slowloris: %d", i, code)
		}
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("50 normal requests took %v during a slowloris attack", d)
	}
	close(stop)
	<-done
	if n.Load() != 50 {
		t.Fatalf("backend saw %d requests, want the 50 normal ones (the trickled ones never completed)", n.Load())
	}
}
