package caddytest

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// The HTTP/3 -> HTTP/1.1 downgrade under attack: the classes of hostile
// request of attack_h2down_test.go, sent by the raw HTTP/3 client
// (h3raw_test.go) to Caddy's HTTP/3 server (quic-go's, whose request
// validation is its own) in front of the smartproxy handler and the
// adversarial HTTP/1.1 backend, which records every byte it reads. Each
// case states what must happen: refused (the stream reset, or a 4xx/5xx,
// and nothing at the backend), or forwarded as one clean HTTP/1.1 request.

// h3Case is one hostile HTTP/3 request.
type h3Case struct {
	name    string
	fields  []hf     // the HEADERS field section, pseudo-headers too, as sent
	data    []string // DATA frames
	trailer []hf     // a trailer section after the DATA
	want    int      // refuse, abort, forward or local (attack_h2down_test.go)
	check   func(t *testing.T, r *advRequest, raw string)
}

// runH3Cases sends every case on one HTTP/3 connection (a new one when the
// server closes it) and checks what reached the backend; after each case a
// plain GET on the connection must be answered intact.
func runH3Cases(t *testing.T, b *advBackend, log *completeLog, cases []h3Case) {
	t.Helper()
	c := dialH3(t)
	for _, tc := range cases {
		handlersIdle(t) // the last GET's handler is done too
		nReq, lens := log.len(), b.rawLens()
		r := c.open().send(tc.fields, tc.data, tc.trailer).read()
		// What reached the backend is read once the stream's handler is
		// done (quic-go resets a stream whose DATA overruns its length
		// while the handler runs).
		handlersIdle(t)
		got := log.since(nReq)
		raw := b.rawSince(lens)
		judgeCase(t, tc.name, tc.want, r.Reset || r.Err != nil || r.Status >= 400, r.Status, r, got, raw, tc.check)
		t.Logf("%s: %v; backend read %q", tc.name, r, raw)
		if c.closed() {
			t.Logf("%s: the server closed the connection: %v", tc.name, context.Cause(c.conn.Context()))
			c = dialH3(t)
		}
		nReq = log.len()
		if !c.alive() {
			t.Errorf("%s: the next GET on the connection failed", tc.name)
		}
		wantAliveOnly(t, tc.name, log.since(nReq))
	}
	handlersIdle(t)
	for _, r := range b.requests() {
		if strings.Contains(r.Target, "smuggled") || strings.Contains(r.Method, "smuggled") ||
			strings.Contains(strings.ToLower(fmt.Sprint(r.Header)), "injected") {
			t.Errorf("a smuggled request or field reached the backend: %s %s %v", r.Method, r.Target, r.Header)
		}
	}
}

// h3get is the pseudo-headers of a GET of path, then extra.
func h3get(path string, extra ...hf) []hf { return h3req("GET", path, extra...) }

// h3pseudo is a field section of the pseudo-headers given (name, value
// pairs) and nothing else.
func h3pseudo(kv ...string) []hf {
	var out []hf
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, hf{kv[i], kv[i+1]})
	}
	return out
}

func TestH3DownRequestHeaders(t *testing.T) {
	b := newAdvBackend(t)
	log := &completeLog{}
	b.setScript(log.script)
	startH3Raw(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	target := func(want string) func(*testing.T, *advRequest, string) {
		return func(t *testing.T, r *advRequest, raw string) {
			if r.Target != want {
				t.Errorf("the backend got target %q, want %q; raw %q", r.Target, want, raw)
			}
		}
	}
	hostOnce := func(want string) func(*testing.T, *advRequest, string) {
		return func(t *testing.T, r *advRequest, raw string) {
			if r.Host != want || strings.Count(strings.ToLower(raw), "\r\nhost:") != 1 {
				t.Errorf("the backend got Host %q, raw %q; want %q once", r.Host, raw, want)
			}
		}
	}
	cases := []h3Case{
		// Connection-specific fields (RFC 9114 §4.2).
		{name: "connection", fields: h3get("/h", hf{"connection", "close"}), want: refuse},
		{name: "keep-alive", fields: h3get("/h", hf{"keep-alive", "timeout=5"}), want: refuse},
		{name: "upgrade", fields: h3get("/h", hf{"upgrade", "websocket"}), want: refuse},
		{name: "proxy-connection", fields: h3get("/h", hf{"proxy-connection", "keep-alive"}), want: refuse},
		{name: "transfer-encoding", fields: h3get("/h", hf{"transfer-encoding", "chunked"}), want: refuse},
		{name: "te gzip", fields: h3get("/h", hf{"te", "gzip"}), want: refuse},
		{name: "te trailers, gzip", fields: h3get("/h", hf{"te", "trailers, gzip"}), want: refuse},
		{name: "te trailers", fields: h3get("/te", hf{"te", "trailers"}), want: forward, check: wantHeader("Te", "trailers")},
		{name: "proxy-authorization", fields: h3get("/pa", hf{"proxy-authorization", "Basic eDp5"}), want: forward,
			check: wantHeader("Proxy-Authorization")},
		// Field names and values.
		{name: "upper-case name", fields: h3get("/h", hf{"X-Upper", "1"}), want: refuse},
		{name: "colon in name", fields: h3get("/h", hf{"x:y", "1"}), want: refuse},
		{name: "space in name", fields: h3get("/h", hf{"x y", "1"}), want: refuse},
		{name: "empty name", fields: h3get("/h", hf{"", "1"}), want: refuse},
		{name: "CRLF in name", fields: h3get("/h", hf{"x\r\nx-injected", "1"}), want: refuse},
		{name: "CR in value", fields: h3get("/h", hf{"x-v", "a\rb"}), want: refuse},
		{name: "LF in value", fields: h3get("/h", hf{"x-v", "a\nx-injected: 1"}), want: refuse},
		{name: "CRLF in value", fields: h3get("/h", hf{"x-v", "a\r\n\r\nGET /smuggled HTTP/1.1"}), want: refuse},
		{name: "NUL in value", fields: h3get("/h", hf{"x-v", "a\x00b"}), want: refuse},
		{name: "cookie fields", fields: h3get("/cookie", hf{"cookie", "a=1"}, hf{"cookie", "b=2"}), want: forward,
			check: wantHeader("Cookie", "a=1; b=2")},
		// Pseudo-headers.
		{name: "repeated :path", fields: append(h3get("/h"), hf{":path", "/smuggled"}), want: refuse},
		{name: "repeated :method", fields: append([]hf{{":method", "POST"}}, h3get("/h")...), want: refuse},
		{name: "repeated :authority", fields: append(h3get("/h"), hf{":authority", "other.test"}), want: refuse},
		{name: "unknown pseudo", fields: h3get("/h", hf{":foo", "bar"}), want: refuse},
		{name: ":status in a request", fields: h3get("/h", hf{":status", "200"}), want: refuse},
		{name: "pseudo after regular", fields: []hf{{":method", "GET"}, {"x-a", "1"}, {":scheme", "https"},
			{":authority", "h3.test"}, {":path", "/h"}}, want: refuse},
		{name: "no :path", fields: h3pseudo(":method", "GET", ":scheme", "https", ":authority", "h3.test"), want: refuse},
		{name: "no :method", fields: h3pseudo(":scheme", "https", ":authority", "h3.test", ":path", "/h"), want: refuse},
		{name: "no :authority nor host", fields: h3pseudo(":method", "GET", ":scheme", "https", ":path", "/h"), want: refuse},
		{name: ":path with space", fields: h3get("/a b"), want: forward, check: target("/a%20b")},
		// quic-go's url.ParseRequestURI refuses every control byte, tab too.
		{name: ":path with tab", fields: h3get("/a\tb"), want: refuse},
		{name: ":path with CRLF", fields: h3get("/a\r\nx-injected: 1"), want: refuse},
		{name: ":path with NUL", fields: h3get("/a\x00b"), want: refuse},
		{name: ":path with #", fields: h3get("/a#b"), want: forward, check: target("/a%23b")},
		{name: ":path //host", fields: h3get("//evil.test/x"), want: forward, check: target("/evil.test/x")},
		{name: "space in the query", fields: h3get("/q?a=b HTTP/1.1"), want: refuse},
		{name: "space in the query, before a path", fields: h3get("/q?x /admin"), want: refuse},
		{name: "tab in the query", fields: h3get("/q?a=b\tc"), want: refuse},
		{name: "DEL in the query", fields: h3get("/q?a=b\x7fc"), want: refuse},
		{name: "high byte in the query", fields: h3get("/q?a=\xc3\xa9"), want: forward,
			check: func(t *testing.T, r *advRequest, raw string) {
				if strings.ContainsAny(r.Target, " \t") {
					t.Errorf("target %q", r.Target)
				}
			}},
		{name: "encoded space in the query", fields: h3get("/q?a=b%20c"), want: forward, check: target("/q?a=b%20c")},
		{name: ":path climbing", fields: h3get("/a/../../etc/passwd"), want: refuse},
		{name: ":path with %00", fields: h3get("/a%00b"), want: refuse},
		{name: ":path with encoded CRLF", fields: h3get("/a%0d%0aX-Injected:%201"), want: refuse},
		{name: ":path with request line", fields: h3get("/a HTTP/1.1\r\nHost: h3.test\r\n\r\nGET /smuggled"), want: refuse},
		{name: ":path with request line, tab", fields: h3get("/a\tHTTP/1.1"), want: refuse},
		{name: "empty :path", fields: h3get(""), want: refuse},
		{name: ":path not from /", fields: h3get("smuggled"), want: refuse},
		{name: "absolute-form :path", fields: h3get("https://evil.test/smuggled"), want: refuse},
		{name: ":path * on GET", fields: h3get("*"), want: refuse},
		{name: ":path * on POST", fields: h3req("POST", "*"), want: refuse},
		{name: ":method lower case", fields: h3req("get", "/lower"), want: forward,
			check: wantRawPrefix("get /lower HTTP/1.1\r\n")},
		{name: ":method with a space", fields: h3req("GET /smuggled", "/h"), want: refuse},
		{name: ":method with a tab", fields: h3req("GET\t/smuggled", "/h"), want: refuse},
		{name: ":method with CRLF", fields: h3req("GET /smuggled HTTP/1.1\r\nHost: h3.test\r\n\r\nGET", "/h"), want: refuse},
		{name: ":method with NUL", fields: h3req("GET\x00", "/h"), want: refuse},
		{name: "empty :method", fields: h3req("", "/h"), want: refuse},
		{name: "separator in :method", fields: h3req("GET,POST", "/h"), want: refuse},
		{name: "high byte in :method", fields: h3req("G\xc3\xa9T", "/h"), want: refuse},
		// Authority and Host.
		{name: ":authority and host disagree", fields: h3get("/h", hf{"host", "other.test"}), want: refuse},
		{name: ":authority and host agree", fields: h3get("/agree", hf{"host", "h3.test"}), want: forward,
			check: hostOnce("h3.test")},
		{name: "two host fields", fields: h3pseudo(":method", "GET", ":scheme", "https", ":path", "/h",
			"host", "h3.test", "host", "other.test"), want: refuse},
		{name: "host without :authority", fields: h3pseudo(":method", "GET", ":scheme", "https", ":path", "/host",
			"host", "other.test"), want: forward, check: hostOnce("other.test")},
		{name: "userinfo in :authority", fields: h3pseudo(":method", "GET", ":scheme", "https",
			":authority", "user@h3.test", ":path", "/h"), want: refuse},
		{name: "slash in :authority", fields: h3pseudo(":method", "GET", ":scheme", "https",
			":authority", "h3.test/smuggled", ":path", "/h"), want: refuse},
		{name: "space in :authority", fields: h3pseudo(":method", "GET", ":scheme", "https",
			":authority", "h3.test x", ":path", "/h"), want: refuse},
		{name: "tab in :authority", fields: h3pseudo(":method", "GET", ":scheme", "https",
			":authority", "h3.test\tx", ":path", "/h"), want: refuse},
		{name: "request line in :authority", fields: h3pseudo(":method", "GET", ":scheme", "https",
			":authority", "h3.test /smuggled HTTP/1.1", ":path", "/h"), want: refuse},
		{name: "high byte in :authority", fields: h3pseudo(":method", "GET", ":scheme", "https",
			":authority", "h\xc3\xa93.test", ":path", "/h"), want: refuse},
		{name: "space in host", fields: h3pseudo(":method", "GET", ":scheme", "https", ":path", "/h",
			"host", "h3.test /smuggled"), want: refuse},
		{name: "port out of range", fields: h3pseudo(":method", "GET", ":scheme", "https",
			":authority", "h3.test:99999", ":path", "/port"), want: forward, check: hostOnce("h3.test:99999")},
		// CONNECT: this is a reverse proxy, not a forward one or a tunnel.
		{name: "CONNECT", fields: h3pseudo(":method", "CONNECT", ":authority", "internal.test:22"), want: refuse},
		{name: "CONNECT with a :path", fields: h3pseudo(":method", "CONNECT", ":authority", "internal.test:22",
			":path", "/"), want: refuse},
		{name: "extended CONNECT", fields: h3pseudo(":method", "CONNECT", ":protocol", "websocket",
			":scheme", "https", ":authority", "h3.test", ":path", "/ws", "sec-websocket-version", "13"), want: refuse},
		{name: ":protocol on a GET", fields: h3get("/h", hf{":protocol", "websocket"}), want: refuse},
	}
	runH3Cases(t, b, log, cases)
}
