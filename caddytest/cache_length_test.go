package caddytest

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCacheHitLength: a hit carries a Content-Length equal to its body and
// is never chunked, over HTTP/1.1 and HTTP/2 (h2c), for GET and HEAD, with
// bodies on both sides of the size below which Caddy's net/http server
// writes the field itself (a GET hit on such a body leaves it to the
// server: cache.Settings.ImplicitLength).
func TestCacheHitLength(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		io.WriteString(w, strings.Repeat("x", n))
	})
	srv := plainServer(proxyAddr, spRoute(map[string]any{"backends": backends(b), "cache": map[string]any{"max_size": 100}}, nil))
	srv["protocols"] = []string{"h1", "h2c"}
	startServers(t, map[string]any{"sp": srv})
	clients := map[string]*http.Client{
		"HTTP/1.1": {Timeout: 10 * time.Second, Transport: &http.Transport{}},
		"HTTP/2":   {Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: h2cOnly()}},
	}
	for cname, c := range clients {
		for _, n := range []int{0, 1024, 2048, 2049, 4096, 4097, 65536} {
			path := "/" + strconv.Itoa(n) + "?" + strings.ReplaceAll(cname, "/", "")
			for i, method := range []string{"GET", "GET", "HEAD"} { // miss, hit, HEAD hit
				req, _ := http.NewRequest(method, proxyURL+path, nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s %s %s: %v", cname, method, path, err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("%s %s %s: body: %v", cname, method, path, err)
				}
				wantBody := n
				if method == "HEAD" {
					wantBody = 0
				}
				if resp.StatusCode != 200 || len(body) != wantBody || resp.ContentLength != int64(n) ||
					len(resp.TransferEncoding) != 0 || resp.Header.Get("Content-Length") != strconv.Itoa(n) {
					t.Errorf("%s %s %s: %d, %d body bytes, Content-Length %q (%d), Transfer-Encoding %v; want 200, %d, %d, none",
						cname, method, path, resp.StatusCode, len(body), resp.Header.Get("Content-Length"), resp.ContentLength,
						resp.TransferEncoding, wantBody, n)
				}
				if cname == "HTTP/2" && resp.ProtoMajor != 2 {
					t.Errorf("%s: client spoke %s", cname, resp.Proto)
				}
				if cs := resp.Header.Get("Cache-Status"); i > 0 && (!strings.Contains(cs, "hit") || resp.Header.Get("Age") == "") {
					t.Errorf("%s %s %s: Cache-Status %q, Age %q: not a hit", cname, method, path, cs, resp.Header.Get("Age"))
				}
			}
		}
	}
	if n := b.hits.Load(); n != 14 {
		t.Errorf("backend saw %d requests, want 14 (one miss per body and protocol)", n)
	}
}

// TestAttackShortBodyIsNeverCached: a backend that announces more body
// than it sends (a cacheable 200, Content-Length 4096, 1,000 bytes, then
// the close) gets nothing stored: every client sees an error, never a
// short body framed as complete, and each request goes to the backend,
// over HTTP/1.1 and HTTP/2 alike, since a hit would write a length of
// its own (or let net/http write one) from the body it kept.
func TestAttackShortBodyIsNeverCached(t *testing.T) {
	var sent atomic.Int64
	liar := rawBackend(t, func(c net.Conn) {
		readRequestHead(c)
		sent.Add(1)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nCache-Control: public, max-age=600\r\nContent-Length: 4096\r\n\r\n")
		io.WriteString(c, strings.Repeat("x", 1000))
	})
	srv := plainServer(proxyAddr, spRoute(map[string]any{"backends": []map[string]any{{"url": liar}},
		"cache": map[string]any{"max_size": 100}, "timeout": "2s"}, nil))
	srv["protocols"] = []string{"h1", "h2c"}
	startServers(t, map[string]any{"sp": srv})
	clients := map[string]*http.Client{
		"HTTP/1.1": {Timeout: 10 * time.Second, Transport: &http.Transport{}},
		"HTTP/2":   {Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: h2cOnly()}},
	}
	for name, c := range clients {
		for i := range 3 {
			resp, err := c.Get(proxyURL + "/short")
			if err == nil {
				var body []byte
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					t.Fatalf("%s GET %d: a cut-short body reached the client as complete: %d, %d bytes, Cache-Status %q",
						name, i, resp.StatusCode, len(body), resp.Header.Get("Cache-Status"))
				}
			}
		}
	}
	if n := sent.Load(); n != 6 {
		t.Errorf("the backend answered %d of 6 requests: a cut-short response was served from the cache", n)
	}
}
