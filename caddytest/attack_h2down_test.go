package caddytest

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The HTTP/2 -> HTTP/1.1 downgrade under attack (the H2.CL / H2.TE family
// and header injection): a raw HTTP/2 client (h2raw_test.go), over h2c and
// over TLS with ALPN h2, in front of a real Caddy whose smartproxy handler
// speaks HTTP/1.1 to the adversarial backend, which records every byte it
// reads. For each hostile request the test states what the proxy must do:
// refuse it (a reset stream or a 4xx/5xx of its own, nothing at the
// backend), or forward one clean, unambiguous HTTP/1.1 request. Many of
// the refusals are x/net's HTTP/2 server's (RST_STREAM, PROTOCOL_ERROR, or
// its 400): they are kept as regression tests of the whole path.

// startH2 serves route on h2cAddr (HTTP/1.1 and h2c) and h2tAddr (TLS,
// ALPN h2, a certificate from a CA made for the test).
func startH2(t *testing.T, route map[string]any) { t.Helper(); startH2Logging(t, route, nil) }

// startH2Logging is startH2 with Caddy's logging config logging (nil: the
// tests' default, errors only).
func startH2Logging(t *testing.T, route, logging map[string]any) {
	t.Helper()
	ca := newTestCA(t, "h2down-ca")
	_, certFile, keyFile := ca.issue(t, false, []string{"h2.test"}, net.ParseIP("127.0.0.1"))
	srv := plainServer(h2cAddr, route)
	srv["listen"] = []string{h2cAddr, h2tAddr}
	srv["protocols"] = []string{"h1", "h2", "h2c"}
	srv["tls_connection_policies"] = []map[string]any{{}}
	closeServers(t, h2cAddr, h2tAddr) // no stream of the test goes to an old server
	// Caddy's own metrics count the requests its handlers are serving
	// (handlersIdle).
	startConfigLogging(t, logging, map[string]any{"http_port": 22380, "https_port": 22343, "servers": map[string]any{"sp": srv},
		"metrics": map[string]any{}},
		map[string]any{"tls": map[string]any{"certificates": map[string]any{
			"load_files": []map[string]any{{"certificate": certFile, "key": keyFile}}}}})
}

// handlersIdle waits (up to 10 s) until no request is being served by a
// handler of the server, by Caddy's caddy_http_requests_in_flight. The
// HTTP/2 server answers a stream it resets (DATA beyond its
// content-length, a bad trailer) while the stream's handler still runs:
// the proxy may write to a backend after the client has its answer, and
// the bytes of one case would be seen as the next case's.
func handlersIdle(t *testing.T) {
	t.Helper()
	n := -1.0
	if !eventually(10*time.Second, func() bool {
		n = 0
		for _, line := range strings.Split(string(adminGet(t, "/metrics")), "\n") {
			if rest, ok := strings.CutPrefix(line, "caddy_http_requests_in_flight{"); ok {
				v, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
				if err != nil {
					t.Fatalf("bad sample %q", line)
				}
				n += v
			}
		}
		return n == 0
	}) {
		t.Fatalf("%v requests still being served after 10s", n)
	}
}

// bothTransports runs f over h2c and over TLS.
func bothTransports(t *testing.T, f func(t *testing.T, tlsOn bool)) {
	for _, tlsOn := range []bool{false, true} {
		name := "h2c"
		if tlsOn {
			name = "h2-tls"
		}
		t.Run(name, func(t *testing.T) { f(t, tlsOn) })
	}
}

// completeLog records the requests the adversarial backend read to the
// end of their bodies (its script runs only for those).
type completeLog struct {
	mu   sync.Mutex
	reqs []*advRequest
}

func (l *completeLog) script(r *advRequest) *advReply {
	l.mu.Lock()
	l.reqs = append(l.reqs, r)
	l.mu.Unlock()
	return nil
}

// since returns the complete requests after the first n.
func (l *completeLog) since(n int) []*advRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*advRequest(nil), l.reqs[n:]...)
}

func (l *completeLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// rawSince returns what the backend read on each connection beyond the
// lengths in before (one entry per connection then known).
func (b *advBackend) rawLens() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]int, len(b.conns))
	for i, c := range b.conns {
		c.mu.Lock()
		out[i] = c.raw.Len()
		c.mu.Unlock()
	}
	return out
}

func (b *advBackend) rawSince(before []int) string {
	b.mu.Lock()
	conns := append([]*advConn(nil), b.conns...)
	b.mu.Unlock()
	var sb strings.Builder
	for i, c := range conns {
		c.mu.Lock()
		raw := c.raw.Bytes()
		if i < len(before) {
			raw = raw[before[i]:]
		}
		sb.Write(raw)
		c.mu.Unlock()
	}
	return sb.String()
}

// What the proxy must do with an h2Case.
const (
	refuse  = iota // refused; not one byte reaches a backend
	abort          // refused; a backend may have got the head, never a complete request
	forward        // forwarded: one complete request, which check approves
	local          // answered by the server itself; not one byte reaches a backend
)

// h2Case is one hostile HTTP/2 request.
type h2Case struct {
	name    string
	fields  []hf     // the HEADERS block, pseudo-headers too, as sent
	data    []string // DATA frames; none: END_STREAM on the HEADERS
	trailer []hf     // a trailer block after the DATA, which then ends the stream
	want    int
	// check approves the one request forwarded (want forward); raw is
	// every byte the backend read for it.
	check func(t *testing.T, r *advRequest, raw string)
}

// get is the pseudo-headers of a GET of path, then extra.
func h2get(path string, extra ...hf) []hf {
	return h2req("GET", path, extra...)
}

func h2req(method, path string, extra ...hf) []hf {
	return append([]hf{{":method", method}, {":scheme", "http"}, {":authority", "h2.test"}, {":path", path}}, extra...)
}

// runH2Cases sends every case on one connection per transport (a new one
// when the server ends it) and checks what reached the backend; after each
// case a plain GET on the same connection must be answered intact.
func runH2Cases(t *testing.T, b *advBackend, log *completeLog, cases []h2Case) {
	bothTransports(t, func(t *testing.T, tlsOn bool) {
		c := dialH2(t, tlsOn)
		id := uint32(1)
		for _, tc := range cases {
			handlersIdle(t) // the last GET's handler is done too
			nReq, lens := log.len(), b.rawLens()
			c.headers(id, len(tc.data) == 0, tc.fields...)
			for i, d := range tc.data {
				c.data(id, d, i == len(tc.data)-1 && tc.trailer == nil)
			}
			if tc.trailer != nil {
				c.headers(id, true, tc.trailer...)
			}
			r := c.one(id)
			id += 2
			// What reached the backend is read once the stream's handler is
			// done: a stream reset while its handler runs has its answer
			// before the handler wrote what it would.
			handlersIdle(t)
			got := log.since(nReq)
			raw := b.rawSince(lens)
			judgeCase(t, tc.name, tc.want, r.WasRst || r.Status >= 400, r.Status, r, got, raw, tc.check)
			t.Logf("%s: %v; backend read %q", tc.name, r, raw)
			if c.readErr != nil || c.goAway != nil {
				t.Logf("%s: the server ended the connection (%v, %v)", tc.name, c.readErr, c.goAway)
				c, id = dialH2(t, tlsOn), 1
			}
			nReq = log.len()
			if !c.alive(id) {
				t.Errorf("%s: the next GET on the connection failed: %v", tc.name, c.replies[id])
			}
			id += 2
			wantAliveOnly(t, tc.name, log.since(nReq))
		}
	})
	handlersIdle(t)
	for _, r := range b.requests() {
		if strings.Contains(r.Target, "smuggled") || strings.Contains(r.Method, "smuggled") {
			t.Errorf("a smuggled request reached the backend: %s %s", r.Method, r.Target)
		}
	}
}

// judgeCase checks what a hostile request got against what its case
// wants: refused is whether the client saw a refusal (a reset stream, or
// a 4xx/5xx), status the answer's; got the complete requests the backend
// read for it and raw every byte; check approves a forwarded one.
func judgeCase(t *testing.T, name string, want int, refused bool, status int, reply fmt.Stringer,
	got []*advRequest, raw string, check func(*testing.T, *advRequest, string)) {
	t.Helper()
	switch want {
	case refuse, abort, local:
		if want == local && status != 200 {
			t.Errorf("%s: answered %v, want 200 from the server", name, reply)
		}
		if want != local && !refused {
			t.Errorf("%s: answered %v, want it refused", name, reply)
		}
		if len(got) != 0 {
			t.Errorf("%s: the backend read %d complete requests: %q", name, len(got), raw)
		}
		if want != abort && raw != "" {
			t.Errorf("%s: the backend read %q, want nothing", name, raw)
		}
	case forward:
		if status != 200 || len(got) != 1 {
			t.Errorf("%s: answered %v, backend read %d complete requests %q, want one, forwarded",
				name, reply, len(got), raw)
		} else {
			check(t, got[0], raw)
		}
	}
}

// wantAliveOnly checks that the backend read, for the GET after a case,
// that GET of /alive alone.
func wantAliveOnly(t *testing.T, name string, got []*advRequest) {
	t.Helper()
	if len(got) != 1 || got[0].Target != "/alive" || len(got[0].Body) != 0 {
		var seen []string
		for _, r := range got {
			seen = append(seen, fmt.Sprintf("%s %s %q", r.Method, r.Target, r.Body))
		}
		t.Errorf("%s: the backend read, for the next GET, %q", name, seen)
	}
}

// wantHeader returns a check that the forwarded request's field name has
// exactly the values want (none: absent) and that its head has each line
// at most once.
func wantHeader(name string, want ...string) func(*testing.T, *advRequest, string) {
	return func(t *testing.T, r *advRequest, raw string) {
		t.Helper()
		if got := r.Header.Values(name); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s %s: the backend got %s %q, want %q; raw %q", r.Method, r.Target, name, got, want, raw)
		}
	}
}

func TestH2DownRequestHeaders(t *testing.T) {
	b := newAdvBackend(t)
	log := &completeLog{}
	b.setScript(log.script)
	startH2(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	target := func(want string) func(*testing.T, *advRequest, string) {
		return func(t *testing.T, r *advRequest, raw string) {
			if r.Target != want {
				t.Errorf("the backend got target %q, want %q; raw %q", r.Target, want, raw)
			}
		}
	}
	cases := []h2Case{
		// Connection-specific fields (RFC 9113 §8.2.2).
		{name: "connection", fields: h2get("/h", hf{"connection", "close"}), want: refuse},
		{name: "keep-alive", fields: h2get("/h", hf{"keep-alive", "timeout=5"}), want: refuse},
		{name: "upgrade", fields: h2get("/h", hf{"upgrade", "websocket"}), want: refuse},
		{name: "proxy-connection", fields: h2get("/h", hf{"proxy-connection", "keep-alive"}), want: refuse},
		{name: "te gzip", fields: h2get("/h", hf{"te", "gzip"}), want: refuse},
		{name: "te trailers, gzip", fields: h2get("/h", hf{"te", "trailers, gzip"}), want: refuse},
		{name: "http2-settings", fields: h2get("/h2s", hf{"http2-settings", "AAMAAABkAARAAAAAAAIAAAAA"}), want: forward,
			check: wantHeader("Http2-Settings")},
		{name: "proxy-authorization", fields: h2get("/pa", hf{"proxy-authorization", "Basic eDp5"}), want: forward,
			check: wantHeader("Proxy-Authorization")},
		{name: "te trailers", fields: h2get("/te", hf{"te", "trailers"}), want: forward, check: wantHeader("Te", "trailers")},
		// Field names and values.
		{name: "upper-case name", fields: h2get("/h", hf{"X-Upper", "1"}), want: refuse},
		{name: "colon in name", fields: h2get("/h", hf{"x:y", "1"}), want: refuse},
		{name: "space in name", fields: h2get("/h", hf{"x y", "1"}), want: refuse},
		{name: "empty name", fields: h2get("/h", hf{"", "1"}), want: refuse},
		{name: "CRLF in name", fields: h2get("/h", hf{"x\r\nx-injected", "1"}), want: refuse},
		{name: "CR in value", fields: h2get("/h", hf{"x-v", "a\rb"}), want: refuse},
		{name: "LF in value", fields: h2get("/h", hf{"x-v", "a\nx-injected: 1"}), want: refuse},
		{name: "CRLF in value", fields: h2get("/h", hf{"x-v", "a\r\n\r\nGET /smuggled HTTP/1.1"}), want: refuse},
		{name: "NUL in value", fields: h2get("/h", hf{"x-v", "a\x00b"}), want: refuse},
		{name: "cookie fields", fields: h2get("/cookie", hf{"cookie", "a=1"}, hf{"cookie", "b=2"}), want: forward,
			check: wantHeader("Cookie", "a=1; b=2")},
		{name: "padded value", fields: h2get("/pad", hf{"x-v", " \tpadded\t "}), want: forward, check: wantHeader("X-V", "padded")},
		// Pseudo-headers.
		{name: "repeated :path", fields: append(h2get("/h"), hf{":path", "/smuggled"}), want: refuse},
		{name: "repeated :method", fields: append([]hf{{":method", "POST"}}, h2get("/h")...), want: refuse},
		{name: "unknown pseudo", fields: h2get("/h", hf{":foo", "bar"}), want: refuse},
		{name: "pseudo after regular", fields: []hf{{":method", "GET"}, {"x-a", "1"}, {":scheme", "http"},
			{":authority", "h2.test"}, {":path", "/h"}}, want: refuse},
		{name: "no :path", fields: []hf{{":method", "GET"}, {":scheme", "http"}, {":authority", "h2.test"}}, want: refuse},
		{name: ":path with space", fields: h2get("/a b"), want: forward, check: target("/a%20b")},
		{name: ":path with CRLF", fields: h2get("/a\r\nx-injected: 1"), want: refuse},
		{name: ":path with #", fields: h2get("/a#b"), want: forward, check: target("/a%23b")},
		{name: ":path //host", fields: h2get("//evil.test/x"), want: forward, check: target("/evil.test/x")},
		{name: "space in the query", fields: h2get("/q?a=b HTTP/1.1"), want: refuse},
		{name: "space in the query, before a path", fields: h2get("/q?x /admin"), want: refuse},
		{name: "tab in the query", fields: h2get("/q?a=b\tc"), want: refuse},
		{name: "encoded space in the query", fields: h2get("/q?a=b%20c"), want: forward, check: target("/q?a=b%20c")},
		{name: ":path climbing", fields: h2get("/a/../../etc/passwd"), want: refuse},
		{name: ":path with %00", fields: h2get("/a%00b"), want: refuse},
		{name: ":path with encoded CRLF", fields: h2get("/a%0d%0aX-Injected:%201"), want: refuse},
		{name: ":path with request line", fields: h2get("/a HTTP/1.1\r\nHost: h2.test\r\n\r\nGET /smuggled"), want: refuse},
		{name: "empty :path", fields: h2get(""), want: refuse},
		{name: ":path not from /", fields: h2get("smuggled"), want: refuse},
		{name: "absolute-form :path", fields: h2get("http://evil.test/smuggled"), want: refuse},
		{name: ":path * on GET", fields: h2get("*"), want: refuse},
		{name: ":path * on POST", fields: h2req("POST", "*"), want: refuse},
		// Go's server answers "OPTIONS *" itself.
		{name: ":path * on OPTIONS", fields: h2req("OPTIONS", "*"), want: local},
		{name: ":method lower case", fields: h2req("get", "/lower"), want: forward,
			check: wantRawPrefix("get /lower HTTP/1.1\r\n")},
		{name: ":method with a space", fields: h2req("GET /smuggled", "/h"), want: refuse},
		{name: ":method with a tab", fields: h2req("GET\t/smuggled", "/h"), want: refuse},
		{name: ":method with a request line", fields: h2req("GET /smuggled HTTP/1.1\r\nHost: h2.test\r\n\r\nGET", "/h"), want: refuse},
		{name: "empty :method", fields: h2req("", "/h"), want: refuse},
		{name: "separator in :method", fields: h2req("GET,POST", "/h"), want: refuse},
		// Authority and Host.
		{name: ":authority and host disagree", fields: h2get("/h", hf{"host", "other.test"}), want: refuse},
		{name: "two host fields", fields: []hf{{":method", "GET"}, {":scheme", "http"}, {":path", "/h"},
			{"host", "h2.test"}, {"host", "other.test"}}, want: refuse},
		{name: "host without :authority", fields: []hf{{":method", "GET"}, {":scheme", "http"}, {":path", "/host"},
			{"host", "other.test"}}, want: forward, check: func(t *testing.T, r *advRequest, raw string) {
			if r.Host != "other.test" || strings.Count(strings.ToLower(raw), "\r\nhost:") != 1 {
				t.Errorf("the backend got Host %q, raw %q; want other.test once", r.Host, raw)
			}
		}},
		{name: "userinfo in :authority", fields: []hf{{":method", "GET"}, {":scheme", "http"},
			{":authority", "user@h2.test"}, {":path", "/h"}}, want: refuse},
		{name: "slash in :authority", fields: []hf{{":method", "GET"}, {":scheme", "http"},
			{":authority", "h2.test/smuggled"}, {":path", "/h"}}, want: refuse},
		{name: "space in :authority", fields: []hf{{":method", "GET"}, {":scheme", "http"},
			{":authority", "h2.test x"}, {":path", "/h"}}, want: refuse},
		{name: ":scheme ftp", fields: []hf{{":method", "GET"}, {":scheme", "ftp"},
			{":authority", "h2.test"}, {":path", "/h"}}, want: refuse},
		{name: "empty :scheme", fields: []hf{{":method", "GET"}, {":scheme", ""},
			{":authority", "h2.test"}, {":path", "/h"}}, want: refuse},
		// CONNECT: this is a reverse proxy, not a forward one or a tunnel.
		{name: "CONNECT", fields: []hf{{":method", "CONNECT"}, {":authority", "internal.test:22"}}, want: refuse},
		{name: "extended CONNECT", fields: []hf{{":method", "CONNECT"}, {":protocol", "websocket"},
			{":scheme", "http"}, {":authority", "h2.test"}, {":path", "/ws"}, {"sec-websocket-version", "13"}}, want: refuse},
		{name: ":protocol on a GET", fields: h2get("/h", hf{":protocol", "websocket"}), want: refuse},
	}
	runH2Cases(t, b, log, cases)
}

// A :method that is not a token is refused with 400 at the handler's door,
// whatever the backend's transport: through h1 (plain HTTP/1.1 backend)
// and through Caddy's transport (an h2c backend), where net/http's own
// refusal made a 502 of it. Nothing reaches either backend.
func TestH2DownMethodNotATokenRefused(t *testing.T) {
	b := newAdvBackend(t)
	var h2cHits atomic.Int64
	h2c := originURL(t, true, func(w http.ResponseWriter, r *http.Request) { h2cHits.Add(1) })
	startH2(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}},
		"routes": []map[string]any{{"path": "/h2c/", "backends": []map[string]any{{"url": h2c}}}}}, nil))
	bothTransports(t, func(t *testing.T, tlsOn bool) {
		c := dialH2(t, tlsOn)
		id := uint32(1)
		for _, path := range []string{"/x", "/h2c/x"} {
			for _, m := range []string{"GET /smuggled", "GET\t/smuggled", "GET,POST", "G\xc3\xa9T"} {
				c.headers(id, true, h2req(m, path)...)
				if r := c.one(id); r.Status != http.StatusBadRequest {
					t.Errorf("%q %s: %v, want 400", m, path, r)
				}
				id += 2
			}
		}
	})
	if n := len(b.requests()); n != 0 || h2cHits.Load() != 0 {
		t.Errorf("the backends got %d and %d requests: %q", n, h2cHits.Load(), b.received())
	}
}

// The asterisk form is OPTIONS's alone (RFC 9112 §3.2.4): "GET *" over
// HTTP/2 or HTTP/1.1 is refused with 400 rather than sent as "GET *" (or,
// to a backend with a path, "GET /base*", a sibling of its prefix), and
// "OPTIONS *" is Go's server's to answer.
func TestH2DownAsteriskForm(t *testing.T) {
	b := newAdvBackend(t)
	startH2(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL + "/base"}}}, nil))
	c := dialH2(t, false)
	for i, m := range []string{"GET", "POST", "DELETE"} {
		id := uint32(1 + 2*i)
		c.headers(id, true, h2req(m, "*")...)
		if r := c.one(id); r.Status != http.StatusBadRequest {
			t.Errorf("%s * over h2c: %v, want 400", m, r)
		}
		if r := rawDo(t, h2cAddr, m, m+" * HTTP/1.1\r\nHost: h2.test\r\n\r\n", 1); len(r) != 1 || r[0].Status != 400 {
			t.Errorf("%s * over HTTP/1.1: %+v, want 400", m, r)
		}
	}
	if n := len(b.requests()); n != 0 {
		t.Fatalf("the backend got %q", b.received())
	}
	// Go's server answers "OPTIONS *" itself (SetTarget keeps "*" for a
	// server that does not, forward's TestSetTarget).
	c.headers(9, true, h2req("OPTIONS", "*")...)
	if r := c.one(9); r.Status != 200 || len(b.requests()) != 0 {
		t.Errorf("OPTIONS * over h2c: %v; the backend got %q", r, b.received())
	}
}

// Routing, the Host the backend gets and the cache key all follow one
// authority (:authority, or host without it; the two disagreeing is
// refused, TestH2DownRequestHeaders), and the scheme is the connection's,
// never the client's :scheme: an h2c client claiming https neither tells
// the backend so nor stores an answer that TLS clients are then served.
func TestH2DownAuthorityAndSchemeKeys(t *testing.T) {
	answer := func(name string) func(*advRequest) *advReply {
		return func(r *advRequest) *advReply {
			body := fmt.Sprintf("be=%s host=%s proto=%s", name, r.Host, r.Header.Get("X-Forwarded-Proto"))
			return &advReply{Raw: fmt.Sprintf("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: %d\r\n\r\n%s",
				len(body), body)}
		}
	}
	a, bb := newAdvBackend(t), newAdvBackend(t)
	a.setScript(answer("a"))
	bb.setScript(answer("b"))
	startH2(t, spRoute(map[string]any{"backends": []map[string]any{{"url": a.URL}}, "cache": map[string]any{},
		"routes": []map[string]any{{"host": "b.test", "backends": []map[string]any{{"url": bb.URL}}}}}, nil))
	h2c, h2t := dialH2(t, false), dialH2(t, true)
	steps := []struct {
		c      *h2Client
		fields []hf
		want   string
		hitsB  int
	}{
		{h2c, []hf{{":method", "GET"}, {":scheme", "https"}, {":authority", "b.test"}, {":path", "/page"}},
			"be=b host=b.test proto=http", 1},
		// host without :authority: the same authority, the same entry.
		{h2c, []hf{{":method", "GET"}, {":scheme", "http"}, {":path", "/page"}, {"host", "b.test"}},
			"be=b host=b.test proto=http", 1},
		// A TLS client is not served what the h2c one stored.
		{h2t, []hf{{":method", "GET"}, {":scheme", "https"}, {":authority", "b.test"}, {":path", "/page"}},
			"be=b host=b.test proto=https", 2},
		{h2t, []hf{{":method", "GET"}, {":scheme", "http"}, {":authority", "b.test"}, {":path", "/page"}},
			"be=b host=b.test proto=https", 2},
		// Another authority, another route and entry.
		{h2c, []hf{{":method", "GET"}, {":scheme", "http"}, {":authority", "a.test"}, {":path", "/page"}},
			"be=a host=a.test proto=http", 2},
		{h2c, []hf{{":method", "GET"}, {":scheme", "http"}, {":path", "/page"}, {"host", "a.test"}},
			"be=a host=a.test proto=http", 2},
	}
	ids := map[*h2Client]uint32{h2c: 1, h2t: 1}
	for i, s := range steps {
		id := ids[s.c]
		ids[s.c] += 2
		s.c.headers(id, true, s.fields...)
		if r := s.c.one(id); r.Status != 200 || string(r.Body) != s.want {
			t.Errorf("step %d %v: %v, want %q", i, s.fields, r, s.want)
		}
		if n := len(bb.requests()); n != s.hitsB {
			t.Errorf("step %d: backend b has %d requests, want %d", i, n, s.hitsB)
		}
	}
	if n := len(a.requests()); n != 1 {
		t.Errorf("backend a has %d requests, want 1", n)
	}
}
