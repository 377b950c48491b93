package caddytest

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// CONNECT is refused (this is a reverse proxy), and nothing reaches a
// backend: before, it went out as "CONNECT / HTTP/1.1".
func TestAttackConnectRefused(t *testing.T) {
	b := newAdvBackend(t)
	start(t, map[string]any{"backends": []map[string]any{{"url": b.URL}}})
	r := rawGet(t, "CONNECT internal.example:22 HTTP/1.1\r\nHost: internal.example:22\r\n\r\n")
	if r.Status != http.StatusNotImplemented {
		t.Fatalf("CONNECT: %d %q, want 501", r.Status, r.Body)
	}
	if n := len(b.requests()); n != 0 {
		t.Fatalf("the backend received %d requests: %q", n, b.received())
	}
}

// An h2c upgrade offer is the client's business with the proxy, never
// forwarded (a backend honouring it would switch the proxy's connection
// under its feet); the request itself is proxied as plain HTTP/1.1.
func TestAttackH2CUpgradeNotForwarded(t *testing.T) {
	b := newAdvBackend(t)
	start(t, map[string]any{"backends": []map[string]any{{"url": b.URL}}})
	r := rawGet(t, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"+
		"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	if r.Status != 200 || r.Body != "path:/x" {
		t.Fatalf("GET with an h2c upgrade offer: %d %q, want 200 from the backend", r.Status, r.Body)
	}
	for _, req := range b.requests() {
		for _, h := range []string{"Upgrade", "Http2-Settings"} {
			if v := req.Header.Values(h); len(v) > 0 {
				t.Errorf("the backend received %s: %q", h, v)
			}
		}
	}
}

// Trailer fields that may not be trailers (framing, routing, cookies) are
// dropped both ways; permitted ones pass.
func TestAttackForbiddenTrailersDropped(t *testing.T) {
	b := newAdvBackend(t)
	b.setScript(func(r *advRequest) *advReply {
		// Go's parser refuses a response announcing a forbidden trailer
		// (502); unannounced ones in the trailer section are read.
		return &advReply{Raw: "HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\n" +
			"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Checksum: abc\r\nSet-Cookie: session=attacker\r\n" +
			"Content-Length: 999\r\n\r\n"}
	})
	start(t, map[string]any{"backends": []map[string]any{{"url": b.URL}}})
	// The request's trailers: announced and sent after a chunked body.
	body := "POST /up HTTP/1.1\r\nHost: x\r\nTrailer: X-Sum, Host\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"3\r\nabc\r\n0\r\nX-Sum: 1\r\nHost: evil.example\r\n\r\n"
	rs := rawDo(t, proxyAddr, "POST", body, 1)
	if len(rs) != 1 || rs[0].Status != 200 || rs[0].Body != "ok" {
		t.Fatalf("POST with trailers: %+v", rs)
	}
	raw := b.received()
	if !strings.Contains(raw, "X-Sum: 1") {
		t.Errorf("the permitted request trailer did not reach the backend:\n%s", raw)
	}
	if strings.Contains(raw, "evil.example") {
		t.Errorf("a Host trailer reached the backend:\n%s", raw)
	}
	// The response's trailers, read by Go's client.
	resp, err := newClient().Get("http://" + proxyAddr + "/down")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if got := resp.Trailer.Get("X-Checksum"); got != "abc" {
		t.Errorf("X-Checksum trailer = %q, want abc (trailer %v)", got, resp.Trailer)
	}
	for _, k := range []string{"Set-Cookie", "Content-Length"} {
		if v := resp.Trailer.Values(k); len(v) > 0 {
			t.Errorf("forbidden trailer %s reached the client: %q", k, v)
		}
	}
}

// With the default key, the addresses of one IPv6 /64 share a bucket, and
// an IPv4-mapped address is the IPv4 client.
func TestAttackIPv6NetworkSharesOneBucket(t *testing.T) {
	b := newAdvBackend(t)
	h := map[string]any{"handler": "smartproxy", "backends": []map[string]any{{"url": b.URL}},
		"rate_limit": map[string]any{"requests_per_second": 0.01, "burst": 3}}
	srv := plainServer(proxyAddr, map[string]any{"handle": []map[string]any{h}})
	srv["trusted_proxies"] = map[string]any{"source": "static", "ranges": []string{"127.0.0.1/32"}}
	srv["client_ip_headers"] = []string{"X-Forwarded-For"}
	startServers(t, map[string]any{"sp": srv})
	c := newClient()
	ok := 0
	for i := range 20 {
		addr := "2001:db8:1:2::" + strings.Repeat("f", 1+i%4) + ":" + string(rune('1'+i%9))
		if code, _ := get(t, c, "/", "X-Forwarded-For", addr); code == 200 {
			ok++
		}
	}
	if ok != 3 {
		t.Errorf("20 addresses of one /64 at burst 3: %d admitted, want 3", ok)
	}
	if code, _ := get(t, c, "/", "X-Forwarded-For", "2001:db8:1:3::1"); code != 200 {
		t.Errorf("another /64: %d, want 200", code)
	}
	ok = 0
	for _, addr := range []string{"198.51.100.1", "::ffff:198.51.100.1", "198.51.100.1", "::ffff:198.51.100.1"} {
		if code, _ := get(t, c, "/", "X-Forwarded-For", addr); code == 200 {
			ok++
		}
	}
	if ok != 3 {
		t.Errorf("an IPv4 client and its mapped form, 4 requests at burst 3: %d admitted, want 3", ok)
	}
}
