package caddytest

import (
	"strings"
	"testing"
)

// The response side of the downgrade: an HTTP/1.1 backend's answer goes
// to an HTTP/2 client. Connection-specific fields have no place in
// HTTP/2 (RFC 9113 §8.2.2), a 101 cannot be sent on a stream, and a field
// HTTP/2 cannot carry must not break the connection: the client gets a
// well-formed answer or a 502 on that stream, and the other streams of
// its connection go on.
func TestH2DownResponses(t *testing.T) {
	cases := downRespCases()
	b := newAdvBackend(t)
	scriptResponses(b, cases)
	startH2(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	bothTransports(t, func(t *testing.T, tlsOn bool) {
		c := dialH2(t, tlsOn)
		id := uint32(1)
		for _, tc := range cases {
			// An honest request in flight beside the hostile answer.
			c.request(id, "GET", respPath(tc), true)
			c.request(id+2, "GET", "/beside", true)
			got := c.await(id, id+2)
			judgeResp(t, tc, got[id], got[id+2])
			if c.readErr != nil || c.goAway != nil {
				t.Fatalf("%s: the connection ended: %v %v", tc.name, c.readErr, c.goAway)
			}
			id += 4
			if !c.alive(id) {
				t.Errorf("%s: the next GET: %v", tc.name, c.replies[id])
			}
			id += 2
		}
	})
}

// respCase is one answer of the backend's and what the client must get.
type respCase struct {
	name   string
	raw    string // the backend's answer
	close  bool   // and then it closes the connection
	cut    bool   // the client must see the stream reset, never ended
	status int    // what the HTTP/2 or HTTP/3 client must get
	body   string // and its body, when status is 200
	absent []string
	check  func(t *testing.T, r *h2Reply)
}

// downRespCases are the hostile answers of an HTTP/1.1 backend that the
// downgrade tests serve HTTP/2 and HTTP/3 clients.
func downRespCases() []respCase {
	hop := []string{"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "x-hop"}
	cases := []respCase{
		{name: "hop-by-hop fields", raw: "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n" +
			"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTE: trailers\r\n" +
			"Content-Length: 2\r\n\r\nok", status: 200, body: "ok", absent: hop},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n" +
			"2\r\nok\r\n0\r\n\r\n", status: 200, body: "ok", absent: hop},
		{name: "chunked with trailers", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n" +
			"2\r\nok\r\n0\r\nX-T: v\r\n\r\n", status: 200, body: "ok", absent: hop,
			check: func(t *testing.T, r *h2Reply) {
				if len(r.Trailer) != 1 || r.Trailer[0].Name != "x-t" || r.Trailer[0].Value != "v" {
					t.Errorf("trailers %v, want x-t: v", r.Trailer)
				}
			}},
		{name: "upper-case names", raw: "HTTP/1.1 200 OK\r\nX-UPPER: 1\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok",
			check: func(t *testing.T, r *h2Reply) {
				if v := r.field("x-upper"); len(v) != 1 {
					t.Errorf("x-upper: %q, want the field in lower case", v)
				}
			}},
		// Control bytes in a value: the HTTP/1.1 parser refuses the head.
		{name: "control byte in a value", raw: "HTTP/1.1 200 OK\r\nX-Ctl: a\x01b\r\nContent-Length: 2\r\n\r\nok", status: 502},
		{name: "DEL in a value", raw: "HTTP/1.1 200 OK\r\nX-Del: a\x7fb\r\nContent-Length: 2\r\n\r\nok", status: 502},
		{name: "NUL in a value", raw: "HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\nContent-Length: 2\r\n\r\nok", status: 502},
		// Go's parser keeps a name with a space (golang.org/issue/34540);
		// HTTP/2 cannot carry it, and the field is dropped.
		{name: "space in a name", raw: "HTTP/1.1 200 OK\r\nX Bad: 1\r\nContent-Length: 2\r\n\r\nok", status: 200,
			body: "ok", absent: []string{"x bad", "x-bad"}},
		{name: "space before the colon", raw: "HTTP/1.1 200 OK\r\nContent-Length : 100\r\nX-Bad : 1\r\nContent-Length: 2\r\n\r\nok",
			status: 200, body: "ok", absent: []string{"content-length ", "x-bad ", "x-bad"}},
		{name: "pseudo-header name", raw: "HTTP/1.1 200 OK\r\n:status: 500\r\nContent-Length: 2\r\n\r\nok", status: 502},
		// A folded line is unfolded (RFC 9112 §5.2).
		{name: "obs-fold", raw: "HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok",
			check: func(t *testing.T, r *h2Reply) {
				if v := r.field("x-fold"); len(v) != 1 || v[0] != "a b" {
					t.Errorf("x-fold %q, want %q", v, "a b")
				}
			}},
		{name: "101 to a plain GET", raw: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
			status: 502},
		{name: "101 without Upgrade", raw: "HTTP/1.1 101 Switching Protocols\r\n\r\n", status: 502},
		{name: "status 099", raw: "HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok", status: 502},
		{name: "status 1000", raw: "HTTP/1.1 1000 Odd\r\nContent-Length: 2\r\n\r\nok", status: 502},
		{name: "early hints, then 200", raw: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok"},
		{name: "early hints with hop-by-hop fields", raw: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n" +
			"Connection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok", absent: hop,
			check: func(t *testing.T, r *h2Reply) {
				if v := r.field(":status"); len(v) != 2 || v[0] != "103" {
					t.Errorf(":status %q, want the 103 and then the 200", v)
				}
			}},
		{name: "both framings", raw: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"2\r\nok\r\n0\r\n\r\n", status: 200, body: "ok", check: func(t *testing.T, r *h2Reply) {
			// Transfer-Encoding wins (RFC 9112 §6.3); the length is dropped.
			if v := r.field("content-length"); len(v) != 0 {
				t.Errorf("content-length %q forwarded beside a chunked body", v)
			}
		}},
	}
	// A body the backend cuts short: the client's stream is reset, so
	// that no client takes the part for the whole.
	cases = append(cases,
		respCase{name: "body short of its length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close: true, cut: true},
		respCase{name: "chunked body cut", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", close: true, cut: true},
		// Go's chunked reader keeps a trailer name with a space too.
		respCase{name: "space in a trailer name", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n" +
			"2\r\nok\r\n0\r\nX Bad: 1\r\nContent-Length : 100\r\nX-T: v\r\n\r\n", status: 200, body: "ok",
			check: onlyTrailerXT},
		respCase{name: "space in a name of early hints", raw: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n" +
			"X Bad: 1\r\nContent-Length : 100\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok",
			absent: []string{"x bad", "content-length ", "x-bad"}},
		respCase{name: "forbidden trailers", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n" +
			"0\r\nContent-Length: 100\r\nSet-Cookie: a=b\r\nX-T: v\r\n\r\n", status: 200, body: "ok",
			check: onlyTrailerXT},
	)
	return cases
}

// onlyTrailerXT checks that x-t is the only trailer forwarded.
func onlyTrailerXT(t *testing.T, r *h2Reply) {
	for _, f := range r.Trailer {
		if f.Name != "x-t" {
			t.Errorf("trailer %q: %q forwarded", f.Name, f.Value)
		}
	}
}

// scriptResponses makes b answer "/r/" + each case's name (spaces sent
// as %20) with that case's raw answer.
func scriptResponses(b *advBackend, cases []respCase) {
	script := map[string]*advReply{}
	for _, tc := range cases {
		script["/r/"+tc.name] = &advReply{Raw: tc.raw, Close: tc.close}
	}
	b.setScript(func(r *advRequest) *advReply {
		if rep, ok := script[strings.ReplaceAll(r.Target, "%20", " ")]; ok {
			return rep
		}
		return nil
	})
}

// respPath is the path whose answer is tc's.
func respPath(tc respCase) string { return "/r/" + strings.ReplaceAll(tc.name, " ", "%20") }

// judgeResp checks what the client got for tc's answer, r, and for the
// honest request beside it.
func judgeResp(t *testing.T, tc respCase, r, beside *h2Reply) {
	t.Helper()
	if tc.cut {
		if r.Ended || !r.WasRst {
			t.Errorf("%s: %v, ended %v: want the stream reset", tc.name, r, r.Ended)
		}
	} else if r.Status != tc.status || (tc.status == 200 && string(r.Body) != tc.body) || !r.Ended {
		t.Errorf("%s: %v, want %d %q", tc.name, r, tc.status, tc.body)
	}
	for _, f := range r.Fields {
		if f.Name != strings.ToLower(f.Name) {
			t.Errorf("%s: field %q is not lower case", tc.name, f.Name)
		}
		for _, h := range tc.absent {
			if f.Name == h {
				t.Errorf("%s: the client got %s: %q", tc.name, f.Name, f.Value)
			}
		}
	}
	if tc.check != nil {
		tc.check(t, r)
	}
	if beside.Status != 200 || string(beside.Body) != "path:/beside" {
		t.Errorf("%s: the stream beside it got %v", tc.name, beside)
	}
}

// What the cache stored from an answer with hop-by-hop fields is served to
// HTTP/2 clients without them too, on the miss and on the hit.
func TestH2DownCachedResponseHasNoHopFields(t *testing.T) {
	b := newAdvBackend(t)
	b.setScript(func(r *advRequest) *advReply {
		return &advReply{Raw: "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nConnection: X-Hop\r\nX-Hop: 1\r\n" +
			"Keep-Alive: timeout=5\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nContent-Length: 2\r\n\r\nok"}
	})
	startH2(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}, "cache": map[string]any{}}, nil))
	c := dialH2(t, true)
	for i, want := range []string{"miss", "hit"} {
		id := uint32(1 + 2*i)
		c.request(id, "GET", "/cached", true)
		r := c.one(id)
		if r.Status != 200 || string(r.Body) != "ok" || !strings.Contains(strings.Join(r.field("cache-status"), ","), want) {
			t.Errorf("%s: %v", want, r)
		}
		for _, f := range r.Fields {
			switch f.Name {
			case "connection", "x-hop", "keep-alive", "upgrade", "proxy-connection", "transfer-encoding":
				t.Errorf("%s: the client got %s: %q", want, f.Name, f.Value)
			}
		}
	}
	if n := len(b.requests()); n != 1 {
		t.Errorf("the backend got %d requests, want 1", n)
	}
}
