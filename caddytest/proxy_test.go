package caddytest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

func TestRoundRobinSpread(t *testing.T) {
	b1, b2, b3 := newBackend(t, "b1", nil), newBackend(t, "b2", nil), newBackend(t, "b3", nil)
	start(t, map[string]any{
		"backends":      backends(b1, b2, b3),
		"load_balancer": map[string]any{"algorithm": "round_robin"},
	})
	c := newClient()
	var seq []string
	for range 30 {
		code, body := get(t, c, "/")
		if code != 200 {
			t.Fatalf("status %d, body %q", code, body)
		}
		seq = append(seq, body)
	}
	for _, b := range []*backend{b1, b2, b3} {
		if n := b.hits.Load(); n != 10 {
			t.Errorf("%s got %d of 30 requests, want 10 (sequence %v)", b.name, n, seq)
		}
	}
	// Strict rotation: no backend twice in a row.
	for i := 1; i < len(seq); i++ {
		if seq[i] == seq[i-1] {
			t.Fatalf("%s twice in a row at %d: %v", seq[i], i, seq)
		}
	}
}

func TestRouteSelectionByHostAndPath(t *testing.T) {
	api := newBackend(t, "api-v1", nil)
	wild := newBackend(t, "wildcard", nil)
	static := newBackend(t, "static", nil)
	def := newBackend(t, "default", nil)
	start(t, map[string]any{
		"backends": backends(def),
		"routes": []map[string]any{
			{"host": "api.example.com", "path": "/v1", "backends": backends(api)},
			{"host": "*.example.com", "backends": backends(wild)},
			{"path": "/static/", "backends": backends(static)},
		},
	})
	c := newClient()
	cases := []struct{ host, path, want string }{
		{"api.example.com", "/v1/users", "api-v1"},
		{"api.example.com:9080", "/v1", "api-v1"},
		{"API.EXAMPLE.COM", "/v1/x", "api-v1"},
		{"api.example.com", "/v1x", "wildcard"},
		{"api.example.com", "/v2", "wildcard"},
		{"www.example.com", "/v1/users", "wildcard"},
		{"other.test", "/static/app.js", "static"},
		{"other.test", "/static", "static"},
		{"other.test", "/staticfoo", "default"},
		{"other.test", "/", "default"},
	}
	for _, tc := range cases {
		code, body := get(t, c, tc.path, "Host", tc.host)
		if code != 200 || body != tc.want {
			t.Errorf("Host %s path %s: got %d %q, want 200 %q", tc.host, tc.path, code, body, tc.want)
		}
	}
}

func TestNoMatchGoesToNextHandler(t *testing.T) {
	api := newBackend(t, "api", nil)
	tester := start(t, map[string]any{
		"routes": []map[string]any{{"path": "/api", "backends": backends(api)}},
	})
	_ = tester
	// With no top-level backends and no match, the handler passes the
	// request on; the route has no further handler, so Caddy answers 200
	// with an empty body.
	code, body := get(t, newClient(), "/elsewhere")
	if code != 200 || body != "" || api.hits.Load() != 0 {
		t.Fatalf("got %d %q (backend hits %d), want Caddy's empty 200 and no backend hit", code, body, api.hits.Load())
	}
	if code, body := get(t, newClient(), "/api/x"); body != "api" {
		t.Fatalf("matched route: got %d %q", code, body)
	}
}

func TestForwardedAndHopByHopHeaders(t *testing.T) {
	echo := newBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Backend-Hop")
		w.Header().Set("X-Backend-Hop", "secret")
		w.Header().Set("X-Backend-Kept", "yes")
		fmt.Fprintf(w, "host=%s\nxff=%s\nproto=%s\nxfh=%s\ncustom=%s\nkeepalive=%s\nconn=%s\nkept=%s\npath=%s\n",
			r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"),
			r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Custom-Hop"),
			r.Header.Get("Keep-Alive"), r.Header.Get("Connection"), r.Header.Get("X-Kept"), r.URL.RequestURI())
	})
	start(t, map[string]any{"backends": backends(echo)})
	req, _ := http.NewRequest("GET", proxyURL+"/a/b?q=1&r=%2F", nil)
	req.Host = "shop.example.com"
	req.Header.Set("X-Forwarded-For", "6.6.6.6") // a forgery: the client is not a trusted proxy
	req.Header.Set("Connection", "X-Custom-Hop")
	req.Header.Set("X-Custom-Hop", "must not pass")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("X-Kept", "passes")
	resp, err := newClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	got := string(raw)
	for _, want := range []string{
		"host=shop.example.com\n", "xff=127.0.0.1\n", "proto=http\n", "xfh=shop.example.com\n",
		"custom=\n", "keepalive=\n", "kept=passes\n", "path=/a/b?q=1&r=%2F\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("backend saw:\n%s\nwant a line %q", got, want)
		}
	}
	if v := resp.Header.Get("X-Backend-Hop"); v != "" {
		t.Errorf("header listed in the backend's Connection reached the client: %q", v)
	}
	if v := resp.Header.Get("X-Backend-Kept"); v != "yes" {
		t.Errorf("X-Backend-Kept = %q, want yes", v)
	}
}

func TestServerSentEventsStreamAsTheyCome(t *testing.T) {
	firstSeen := make(chan struct{})
	sse := newBackend(t, "sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		// The backend finishes only after the client has the first event:
		// a proxy that buffered would leave both waiting.
		select {
		case <-firstSeen:
		case <-time.After(5 * time.Second):
			return
		}
		fmt.Fprint(w, "data: two\n\n")
	})
	start(t, map[string]any{"backends": backends(sse)})
	resp, err := newClient().Get(proxyURL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	line, err := rd.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q, %v", line, err)
	}
	close(firstSeen)
	rest, err := io.ReadAll(rd)
	if err != nil || !strings.Contains(string(rest), "data: two") {
		t.Fatalf("rest of stream: %q, %v", rest, err)
	}
}

func TestWebSocketEcho(t *testing.T) {
	ws := newBackend(t, "ws", websocket.Handler(func(c *websocket.Conn) {
		io.Copy(c, c)
	}).ServeHTTP)
	start(t, map[string]any{"backends": backends(ws)})
	conn, err := websocket.Dial("ws://"+proxyAddr+"/echo", "", "http://"+proxyAddr)
	if err != nil {
		t.Fatalf("dialing websocket through the proxy: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	for i := range 5 {
		msg := "message " + strconv.Itoa(i)
		if err := websocket.Message.Send(conn, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := websocket.Message.Receive(conn, &got); err != nil {
			t.Fatal(err)
		}
		if got != msg {
			t.Fatalf("echo: got %q, want %q", got, msg)
		}
	}
}

func TestTrailersPassThrough(t *testing.T) {
	tb := newBackend(t, "trailers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc123")
	})
	start(t, map[string]any{"backends": backends(tb)})
	resp, err := newClient().Get(proxyURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "body" || resp.Trailer.Get("X-Checksum") != "abc123" {
		t.Fatalf("body %q trailer %v", body, resp.Trailer)
	}
}

// patternReader yields n bytes of a repeating pattern without holding them.
type patternReader struct{ n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	p.n -= int64(len(b))
	return len(b), nil
}

func TestLargeBodiesStreamWithoutBuffering(t *testing.T) {
	const size = 100 << 20
	big := newBackend(t, "big", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d %v", n, err)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		io.Copy(w, &patternReader{n: size})
	})
	start(t, map[string]any{"backends": backends(big)})
	c := &http.Client{Timeout: 60 * time.Second}

	measure := func(name string, f func()) {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		// Client, proxy and backend all run in this process; a proxy that
		// held the body would allocate at least its 100 MiB.
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s of %d MiB: %.1f MiB allocated in the whole process", name, size>>20, float64(allocated)/(1<<20))
		if allocated > 32<<20 {
			t.Errorf("%s allocated %d MiB for a %d MiB body: it was buffered", name, allocated>>20, size>>20)
		}
	}
	measure("upload", func() {
		req, _ := http.NewRequest("POST", proxyURL+"/upload", &patternReader{n: size})
		req.ContentLength = size
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := strconv.Itoa(size) + " <nil>"; string(body) != want {
			t.Fatalf("backend received %q, want %q", body, want)
		}
	})
	measure("download", func() {
		resp, err := c.Get(proxyURL + "/download")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			t.Fatalf("downloaded %d bytes (%v), want %d", n, err, size)
		}
	})
}

// Every backend refusing the connection: nothing could answer, so the
// service is unavailable (503, as HAProxy says), not a bad gateway.
func TestDeadBackendsAre503(t *testing.T) {
	start(t, map[string]any{"backends": []map[string]any{{"url": deadURL(t)}, {"url": deadURL(t)}}})
	code, _ := get(t, newClient(), "/")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", code)
	}
}

func TestDialErrorIsRetriedOnAnotherBackend(t *testing.T) {
	live := newBackend(t, "live", nil)
	start(t, map[string]any{"backends": []map[string]any{{"url": deadURL(t)}, {"url": live.URL}}})
	c := newClient()
	for i := range 20 {
		if code, body := get(t, c, "/"); code != 200 || body != "live" {
			t.Fatalf("request %d: %d %q; a dial error must be retried on the live backend", i, code, body)
		}
	}
}

func TestSlowBackendIs504(t *testing.T) {
	release := make(chan struct{})
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	})
	defer close(release)
	start(t, map[string]any{"backends": backends(slow), "timeout": "300ms"})
	begin := time.Now()
	code, _ := get(t, newClient(), "/")
	if code != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", code)
	}
	if d := time.Since(begin); d > 4*time.Second {
		t.Fatalf("504 took %v; the timeout is 300ms", d)
	}
}
