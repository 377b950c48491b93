package caddytest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2/hpack"
)

// The response side of the downgrade over HTTP/3: the hostile answers of
// attack_h2resp_test.go (hop-by-hop fields, 1xx, an unasked-for 101, a
// status out of range, a body cut short) go to a raw HTTP/3 client, which
// must get what an HTTP/2 one does: nothing connection-specific (RFC 9114
// §4.2), a well-formed answer or a 502 on that stream, a reset stream for
// a body cut short, and the other streams of its connection unharmed.
func TestH3DownResponses(t *testing.T) {
	cases := downRespCases()
	b := newAdvBackend(t)
	scriptResponses(b, cases)
	startH3Raw(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	c := dialH3(t)
	for _, tc := range cases {
		// An honest request in flight beside the hostile answer.
		s := c.open().send(h3get(respPath(tc)), nil, nil)
		beside := c.open().send(h3get("/beside"), nil, nil)
		judgeResp(t, tc, s.read().asH2(), beside.read().asH2())
		if c.closed() {
			t.Fatalf("%s: the connection ended: %v", tc.name, c.conn.Context().Err())
		}
		if !c.alive() {
			t.Errorf("%s: the next GET failed", tc.name)
		}
	}
}

// asH2 is r in the shape of an HTTP/2 reply, for the checks the two
// downgrades share: a reset stream is an RST_STREAM, a FIN END_STREAM.
func (r *h3Reply) asH2() *h2Reply {
	conv := func(fs []qpack.HeaderField) []hpack.HeaderField {
		out := make([]hpack.HeaderField, len(fs))
		for i, f := range fs {
			out[i] = hpack.HeaderField{Name: f.Name, Value: f.Value}
		}
		return out
	}
	return &h2Reply{Status: r.Status, Fields: conv(r.Fields), Body: r.Body, Trailer: conv(r.Trailer),
		WasRst: r.Reset || r.Err != nil, Done: true, Ended: r.Ended}
}

// An answer far larger than the client's flow-control windows (16 KiB a
// stream, 64 KiB the connection) arrives whole and in order while the
// client reads it late, without hop-by-hop fields, and a stream opened
// beside it is answered while it waits.
func TestH3DownResponseOverFlowControlWindow(t *testing.T) {
	const size = 1 << 20
	body := spliceBody(size)
	b := newAdvBackend(t)
	b.setScript(func(r *advRequest) *advReply {
		if r.Target != "/big" {
			return nil
		}
		return &advReply{Raw: fmt.Sprintf("HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n"+
			"Content-Length: %d\r\n\r\n%s", size, body)}
	})
	startH3Raw(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	c := dialH3Config(t, &quic.Config{InitialStreamReceiveWindow: 16 << 10, MaxStreamReceiveWindow: 16 << 10,
		InitialConnectionReceiveWindow: 64 << 10, MaxConnectionReceiveWindow: 64 << 10})
	big := c.open().send(h3get("/big"), nil, nil)
	if r := c.get(h3get("/beside")...); r.Status != 200 || string(r.Body) != "path:/beside" {
		t.Fatalf("the stream beside the big answer: %v", r)
	}
	r := big.read()
	if r.Status != http.StatusOK || !r.Ended || !bytes.Equal(r.Body, body) {
		t.Fatalf("the big answer: status %d, ended %v, %d bytes (want %d, intact): %v", r.Status, r.Ended,
			len(r.Body), size, r.Err)
	}
	for _, f := range r.Fields {
		if f.Name == "connection" || f.Name == "x-hop" || f.Name == "keep-alive" {
			t.Errorf("the client got %s: %q", f.Name, f.Value)
		}
	}
	if v := r.field("content-length"); len(v) != 1 || v[0] != fmt.Sprint(size) {
		t.Errorf("content-length %q, want %d", v, size)
	}
	if !strings.Contains(b.received(), "GET /big HTTP/1.1\r\n") {
		t.Errorf("the backend never got the request")
	}
}

// The cache stores an answer whose field names are not all tokens without
// them, whichever client caused the miss: an HTTP/1.1 one (whose server
// would have dropped them on writing) and then HTTP/3 clients, on the hit.
func TestH3DownCachedAnswerHasNoBadNames(t *testing.T) {
	b := newAdvBackend(t)
	b.setScript(func(r *advRequest) *advReply {
		return &advReply{Raw: "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nX Bad: 1\r\nContent-Length : 100\r\n" +
			"Connection: X-Hop\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\nok"}
	})
	startH3Raw(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}, "cache": map[string]any{}}, nil))
	h1c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "h3.test"}}} // the test's own CA
	t.Cleanup(h1c.CloseIdleConnections)
	req, _ := http.NewRequest("GET", "https://"+h3rAddr+"/cached", nil)
	req.Host = "h3.test"
	resp, err := h1c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Status"), "miss") {
		t.Fatalf("over HTTP/1.1: %d %v, want a 200 miss", resp.StatusCode, resp.Header)
	}
	c := dialH3(t)
	for range 2 {
		r := c.get(h3get("/cached")...)
		if r.Status != 200 || string(r.Body) != "ok" || !strings.Contains(strings.Join(r.field("cache-status"), ","), "hit") {
			t.Errorf("over HTTP/3: %v, want the hit", r)
		}
		for _, f := range r.Fields {
			if (f.Name != ":status" && !httpguts.ValidHeaderFieldName(f.Name)) || f.Name == "connection" || f.Name == "x-hop" {
				t.Errorf("the HTTP/3 client got %q: %q", f.Name, f.Value)
			}
		}
	}
	if n := len(b.requests()); n != 1 {
		t.Errorf("the backend got %d requests, want 1", n)
	}
}
