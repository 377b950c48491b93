package caddytest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The H2.CL and H2.TE attacks, and request trailers, through the
// downgrade (see attack_h2down_test.go): an HTTP/2 request's length is
// its DATA frames', and the HTTP/1.1 request the proxy writes must frame
// exactly those bytes, whatever content-length, transfer-encoding or
// chunk-shaped data the client sent.

// smuggle is a body that, read as chunked or after a short
// Content-Length, holds a second request.
const smuggle = "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h2.test\r\n\r\n"

// wantRawPrefix checks that the request as the backend read it begins
// with prefix (a request line as the client sent it, say).
func wantRawPrefix(prefix string) func(*testing.T, *advRequest, string) {
	return func(t *testing.T, r *advRequest, raw string) {
		t.Helper()
		if !strings.HasPrefix(raw, prefix) {
			t.Errorf("raw %q, want the method as sent", raw)
		}
	}
}

// wantBody returns a check that the forwarded request carried exactly
// body, framed once: a single Content-Length equal to its length, or
// chunked without one.
func wantBody(body string) func(*testing.T, *advRequest, string) {
	return func(t *testing.T, r *advRequest, raw string) {
		t.Helper()
		if string(r.Body) != body {
			t.Errorf("%s %s: the backend read body %q, want %q; raw %q", r.Method, r.Target, r.Body, body, raw)
		}
		head, _, _ := strings.Cut(strings.ToLower(raw), "\r\n\r\n")
		cl, te := strings.Count(head, "\r\ncontent-length:"), strings.Count(head, "\r\ntransfer-encoding:")
		if cl+te != 1 && !(body == "" && cl+te == 0) {
			t.Errorf("%s %s: %d Content-Length and %d Transfer-Encoding lines, want one framing; raw %q",
				r.Method, r.Target, cl, te, raw)
		}
	}
}

func TestH2DownRequestBodies(t *testing.T) {
	b := newAdvBackend(t)
	log := &completeLog{}
	b.setScript(log.script)
	startH2(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	post := func(path string, extra ...hf) []hf { return h2req("POST", path, extra...) }
	cases := []h2Case{
		// content-length that disagrees with the DATA frames.
		{name: "content-length short of the DATA", fields: post("/b", hf{"content-length", "5"}),
			data: []string{"hello" + smuggle}, want: abort},
		// Go's server starts the handler before the DATA that breaks a
		// declared 0 (or a value it cannot parse, which it takes for 0):
		// the handler waits for the stream's end before forwarding.
		{name: "content-length 0 with DATA", fields: post("/b", hf{"content-length", "0"}),
			data: []string{smuggle}, want: refuse},
		{name: "content-length 0 with empty DATA", fields: post("/cl0", hf{"content-length", "0"}),
			data: []string{""}, want: forward, check: wantBody("")},
		{name: "content-length over the DATA", fields: post("/b", hf{"content-length", "100"}),
			data: []string{"hello"}, want: abort},
		{name: "content-length over the DATA, in two frames", fields: post("/b", hf{"content-length", "100"}),
			data: []string{"hello", " world"}, want: abort},
		{name: "content-length not a number", fields: post("/b", hf{"content-length", "5x"}),
			data: []string{"hello"}, want: refuse},
		{name: "content-length signed", fields: post("/b", hf{"content-length", "+5"}),
			data: []string{"hello"}, want: refuse},
		{name: "content-length negative", fields: post("/b", hf{"content-length", "-1"}),
			data: []string{"hello"}, want: refuse},
		{name: "content-length list", fields: post("/b", hf{"content-length", "5, 5"}),
			data: []string{"hello"}, want: refuse},
		{name: "content-length not a number, no DATA", fields: post("/b", hf{"content-length", "5x"}), want: refuse},
		// Two values: Go's server frames by the first; a request that
		// declares two lengths is malformed, never forwarded.
		{name: "two content-lengths", fields: post("/b", hf{"content-length", "5"}, hf{"content-length", "50"}),
			data: []string{"hello"}, want: refuse},
		{name: "content-length on a bodiless POST", fields: post("/b", hf{"content-length", "40"}), want: refuse},
		{name: "content-length on a bodiless GET", fields: h2get("/b", hf{"content-length", "40"}), want: refuse},
		{name: "content-length 0 on a bodiless POST", fields: post("/cl0-nobody", hf{"content-length", "0"}),
			want: forward, check: wantBody("")},
		{name: "content-length matching", fields: post("/cl", hf{"content-length", "5"}),
			data: []string{"hel", "lo"}, want: forward, check: wantBody("hello")},
		// transfer-encoding has no place in HTTP/2.
		{name: "transfer-encoding chunked", fields: post("/b", hf{"transfer-encoding", "chunked"}),
			data: []string{"5\r\nhello\r\n" + smuggle}, want: refuse},
		{name: "transfer-encoding identity", fields: post("/b", hf{"transfer-encoding", "identity"}),
			data: []string{"hello"}, want: refuse},
		{name: "transfer-encoding with content-length", fields: post("/b", hf{"transfer-encoding", "chunked"},
			hf{"content-length", "3"}), data: []string{"0\r\n\r\n"}, want: refuse},
		// Chunk-shaped DATA is data: the backend gets it all as the body.
		{name: "chunk-shaped DATA", fields: post("/chunky"), data: []string{"5\r\nhello\r\n" + smuggle},
			want: forward, check: wantBody("5\r\nhello\r\n" + smuggle)},
		{name: "chunk-shaped DATA with its length", fields: post("/chunky-cl", hf{"content-length", "56"}),
			data: []string{"5\r\nhello\r\n" + smuggle}, want: forward, check: wantBody("5\r\nhello\r\n" + smuggle)},
		{name: "request line in DATA", fields: post("/rl"), data: []string{"x", "\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n"},
			want: forward, check: wantBody("x\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n")},
		{name: "empty DATA frames", fields: post("/empty"), data: []string{"", "ab", "", ""},
			want: forward, check: wantBody("ab")},
		// Trailers: permitted ones forwarded in a chunked body, forbidden
		// or malformed ones refused, undeclared ones dropped.
		{name: "declared trailer", fields: post("/trailer", hf{"trailer", "x-t"}), data: []string{"abc"},
			trailer: []hf{{"x-t", "v"}}, want: forward, check: func(t *testing.T, r *advRequest, raw string) {
				wantBody("abc")(t, r, raw)
				if !strings.HasSuffix(raw, "\r\n0\r\nX-T: v\r\n\r\n") {
					t.Errorf("the trailer was not forwarded in the chunked body: %q", raw)
				}
			}},
		{name: "undeclared trailer", fields: post("/trailer-undeclared", hf{"trailer", "x-t"}), data: []string{"abc"},
			trailer: []hf{{"x-u", "v"}}, want: forward, check: func(t *testing.T, r *advRequest, raw string) {
				wantBody("abc")(t, r, raw)
				if strings.Contains(strings.ToLower(raw), "x-u") {
					t.Errorf("an undeclared trailer was forwarded: %q", raw)
				}
			}},
		// Go's server ignores "trailer: content-length" and then every
		// field of the trailer block, as none was announced.
		{name: "trailer content-length", fields: post("/trailer-cl", hf{"trailer", "content-length"}), data: []string{"abc"},
			trailer: []hf{{"content-length", "100"}}, want: forward, check: func(t *testing.T, r *advRequest, raw string) {
				wantBody("abc")(t, r, raw)
				if !strings.HasSuffix(raw, "\r\n0\r\n\r\n") {
					t.Errorf("a content-length trailer was forwarded: %q", raw)
				}
			}},
		{name: "trailer transfer-encoding", fields: post("/b", hf{"trailer", "x-t"}), data: []string{"abc"},
			trailer: []hf{{"transfer-encoding", "chunked"}}, want: abort},
		{name: "trailer host", fields: post("/b", hf{"trailer", "host"}), data: []string{"abc"},
			trailer: []hf{{"host", "evil.test"}}, want: abort},
		{name: "trailer with CRLF", fields: post("/b", hf{"trailer", "x-t"}), data: []string{"abc"},
			trailer: []hf{{"x-t", "v\r\n\r\nGET /smuggled HTTP/1.1"}}, want: abort},
		{name: "trailer with a pseudo-header", fields: post("/b", hf{"trailer", "x-t"}), data: []string{"abc"},
			trailer: []hf{{":path", "/smuggled"}}, want: abort},
		{name: "trailer upper case", fields: post("/b", hf{"trailer", "x-t"}), data: []string{"abc"},
			trailer: []hf{{"X-T", "v"}}, want: abort},
		// A declared forbidden trailer that then arrives with a permitted
		// one: the permitted one passes, the forbidden one is never sent.
		{name: "declared forbidden trailer", fields: post("/trailer-forbidden", hf{"trailer", "cookie, x-t"}),
			data: []string{"abc"}, trailer: []hf{{"cookie", "a=b"}, {"x-t", "v"}}, want: forward,
			check: func(t *testing.T, r *advRequest, raw string) {
				wantBody("abc")(t, r, raw)
				if strings.Contains(strings.ToLower(raw), "cookie") {
					t.Errorf("a forbidden trailer reached the backend: %q", raw)
				}
			}},
	}
	runH2Cases(t, b, log, cases)
}

// A stream that declares content-length 0 and then neither ends nor sends
// anything waits for its end (TestH2DownRequestBodies) only as long as
// timeouts.request_body allows: 408, nothing at the backend, the
// connection's other streams unharmed.
func TestH2DownDeclaredZeroThatNeverEndsTimesOut(t *testing.T) {
	b := newAdvBackend(t)
	startH2(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}},
		"timeouts": map[string]any{"request_body": "500ms"}}, nil))
	bothTransports(t, func(t *testing.T, tlsOn bool) {
		c := dialH2(t, tlsOn)
		c.request(1, "POST", "/zero", false, hf{"content-length", "0"})
		start := time.Now()
		r := c.one(1)
		if r.Status != http.StatusRequestTimeout {
			t.Errorf("a declared-0 stream left open: %v after %v, want 408", r, time.Since(start).Round(time.Millisecond))
		}
		if !c.alive(3) {
			t.Errorf("the next GET: %v", c.replies[3])
		}
	})
	if got := b.find("/zero"); len(got) != 0 {
		t.Errorf("the backend got %d requests for /zero: %q", len(got), b.received())
	}
}
