package caddytest

import (
	"strings"
	"testing"
)

// The H3.CL and H3.TE attacks, and request trailers, through the
// downgrade (see attack_h3down_test.go): an HTTP/3 request's length is its
// DATA frames', and the HTTP/1.1 request the proxy writes must frame
// exactly those bytes, whatever content-length or chunk-shaped data the
// client sent (RFC 9114 §4.1.2: a content-length that disagrees with the
// DATA makes the request malformed).
// wantTrailers returns a check that the forwarded request carried body,
// chunked, and then one of the trailer sections allowed.
func wantTrailers(body string, allowed ...string) func(*testing.T, *advRequest, string) {
	return func(t *testing.T, r *advRequest, raw string) {
		t.Helper()
		wantBody(body)(t, r, raw)
		for _, a := range allowed {
			if strings.HasSuffix(raw, "\r\n0\r\n"+a+"\r\n") {
				return
			}
		}
		t.Errorf("%s %s: the body did not end in one of the trailer sections %q: %q", r.Method, r.Target, allowed, raw)
	}
}

func TestH3DownRequestBodies(t *testing.T) {
	b := newAdvBackend(t)
	log := &completeLog{}
	b.setScript(log.script)
	startH3Raw(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	post := func(path string, extra ...hf) []hf { return h3req("POST", path, extra...) }
	cases := []h3Case{
		// content-length that disagrees with the DATA frames.
		{name: "content-length short of the DATA", fields: post("/b", hf{"content-length", "5"}),
			data: []string{"hello" + smuggle}, want: abort},
		{name: "content-length short of the DATA, in two frames", fields: post("/b", hf{"content-length", "5"}),
			data: []string{"hello", smuggle}, want: abort},
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
		{name: "content-length with spaces", fields: post("/b", hf{"content-length", " 5"}),
			data: []string{"hello"}, want: refuse},
		{name: "two content-lengths", fields: post("/b", hf{"content-length", "5"}, hf{"content-length", "50"}),
			data: []string{"hello"}, want: refuse},
		// quic-go keeps one of two equal values.
		{name: "two equal content-lengths", fields: post("/cl-twice", hf{"content-length", "5"}, hf{"content-length", "5"}),
			data: []string{"hello"}, want: forward, check: wantBody("hello")},
		{name: "content-length on a bodiless POST", fields: post("/b", hf{"content-length", "40"}), want: abort},
		{name: "content-length on a bodiless GET", fields: h3get("/b", hf{"content-length", "40"}), want: abort},
		{name: "content-length 0 on a bodiless POST", fields: post("/cl0-nobody", hf{"content-length", "0"}),
			want: forward, check: wantBody("")},
		{name: "content-length matching", fields: post("/cl", hf{"content-length", "5"}),
			data: []string{"hel", "lo"}, want: forward, check: wantBody("hello")},
		// transfer-encoding has no place in HTTP/3.
		{name: "transfer-encoding chunked", fields: post("/b", hf{"transfer-encoding", "chunked"}),
			data: []string{"5\r\nhello\r\n" + smuggle}, want: refuse},
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
		// Trailers: quic-go validates the trailer section (a forbidden,
		// malformed or pseudo field fails the body: the backend never
		// gets the closing chunk) but keeps what it decoded on its own
		// copy of the request, which the handler never sees: none reach
		// the backend. Whatever does must be a declared, permitted one.
		{name: "declared trailer", fields: post("/trailer", hf{"trailer", "x-t"}), data: []string{"abc"},
			trailer: []hf{{"x-t", "v"}}, want: forward, check: wantTrailers("abc", "", "X-T: v\r\n")},
		{name: "undeclared trailer", fields: post("/trailer-undeclared", hf{"trailer", "x-t"}), data: []string{"abc"},
			trailer: []hf{{"x-u", "v"}}, want: forward, check: wantTrailers("abc", "")},
		{name: "trailer content-length", fields: post("/b", hf{"trailer", "content-length"}), data: []string{"abc"},
			trailer: []hf{{"content-length", "100"}}, want: abort},
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
		{name: "declared forbidden trailer", fields: post("/trailer-forbidden", hf{"trailer", "cookie, x-t"}),
			data: []string{"abc"}, trailer: []hf{{"cookie", "a=b"}, {"x-t", "v"}}, want: forward,
			check: wantTrailers("abc", "", "X-T: v\r\n")},
	}
	runH3Cases(t, b, log, cases)
}

// quic-go ends a request body that is short of its content-length with a
// clean EOF, where Go's HTTP/1 and HTTP/2 servers fail the read: the
// stream is the client's, and so is the fault. Such a request gets a 400,
// whether the backend is reached through the h1 transport or Caddy's (an
// h2c backend), and the backends' breakers (failure_threshold 2) never
// trip, so the honest requests after the batch all succeed.
func TestH3DownShortBodyIsTheClientsFault(t *testing.T) {
	b1, b2 := newAdvBackend(t), newAdvBackend(t)
	log := &completeLog{}
	b1.setScript(log.script)
	b2.setScript(log.script)
	startH3Raw(t, spRoute(map[string]any{
		"backends":        []map[string]any{{"url": b1.URL}, {"url": b2.URL}},
		"retries":         map[string]any{"count": 0},
		"circuit_breaker": map[string]any{"failure_threshold": 2, "base_backoff": "30s", "max_backoff": "60s"},
		"routes": []map[string]any{{"path": "/h2c",
			"backends": []map[string]any{{"url": newH2CBackend(t, "c1")}, {"url": newH2CBackend(t, "c2")}}}},
	}, nil))
	c := dialH3(t)
	for _, prefix := range []string{"", "/h2c"} {
		for i := range 4 {
			var data []string
			if i%2 == 0 {
				data = []string{"hello"}
			}
			r := c.open().send(h3req("POST", prefix+"/short", hf{"content-length", "100"}), data, nil).read()
			if r.Status != 400 {
				t.Errorf("%s/short with %d of 100 bytes: %v, want 400", prefix, len(strings.Join(data, "")), r)
			}
		}
		for range 4 {
			if r := c.get(h3req("GET", prefix+"/after")...); r.Status != 200 {
				t.Errorf("%s/after: %v, want 200: a breaker tripped", prefix, r)
			}
		}
	}
	for _, r := range log.since(0) {
		if r.Target == "/short" {
			t.Errorf("a backend read a complete request for /short: %q", r.Body)
		}
	}
}
