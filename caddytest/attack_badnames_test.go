package caddytest

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// badNamesAnswer has fields whose names are not tokens, which Go's
// HTTP/1.1 parser keeps (golang.org/issue/34540), in a 103 and in the
// final head.
const badNamesAnswer = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nX Bad: 1\r\n\r\n" +
	"HTTP/1.1 200 OK\r\nX Bad: 1\r\nContent-Length : 100\r\nX-Good: 1\r\nContent-Length: 2\r\n\r\nok"

// A backend's answer with fields whose names are not tokens reaches
// HTTP/1.1, HTTP/2 and HTTP/3 clients without them, from a plain-HTTP
// backend (h1's slow path) and from an https one (Caddy's transport), and
// the backend connection that carried it carries nothing more: a backend
// that sends malformed names is not trusted with another exchange.
func TestBadFieldNamesEveryClient(t *testing.T) {
	script := func(r *advRequest) *advReply {
		if strings.HasSuffix(r.Target, "/bad") {
			return &advReply{Raw: badNamesAnswer}
		}
		return nil
	}
	plain := newAdvBackend(t)
	plain.setScript(script)
	ca := newTestCA(t, "badnames-ca")
	secure := newAdvTLSBackend(t, ca)
	secure.setScript(script)
	startH3Raw(t, spRoute(map[string]any{"backends": []map[string]any{{"url": plain.URL}},
		"routes": []map[string]any{{"path": "/tls/", "backends": []map[string]any{{"url": secure.URL}},
			"tls": map[string]any{"ca": ca.file}}}}, nil))
	// get fetches path and returns its status, body and field names,
	// through one of the three clients.
	type fetch func(t *testing.T, path string) (int, string, []string)
	viaGo := func(h2 bool) fetch {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "h3.test"}, // the test's own CA
			ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
		t.Cleanup(c.CloseIdleConnections)
		return func(t *testing.T, path string) (int, string, []string) {
			t.Helper()
			req, _ := http.NewRequest("GET", "https://"+h3rAddr+path, nil)
			req.Host = "h3.test"
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
				t.Fatalf("%s over HTTP/%d, want HTTP/%d", path, resp.ProtoMajor, want)
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for k := range resp.Header {
				names = append(names, k)
			}
			return resp.StatusCode, string(b), names
		}
	}
	viaH3 := func(t *testing.T, path string) (int, string, []string) {
		t.Helper()
		r := dialH3(t).get(h3get(path)...) // a connection of the subtest's
		var names []string
		for _, f := range r.Fields {
			if f.Name != ":status" {
				names = append(names, f.Name)
			}
		}
		return r.Status, string(r.Body), names
	}
	clients := []struct {
		name string
		get  fetch
	}{{"HTTP/1.1", viaGo(false)}, {"HTTP/2", viaGo(true)}, {"HTTP/3", viaH3}}
	for _, cl := range clients {
		for _, be := range []struct {
			name, prefix string
			b            *advBackend
		}{{"plain backend", "/", plain}, {"https backend", "/tls/", secure}} {
			t.Run(cl.name+" "+be.name, func(t *testing.T) {
				status, body, names := cl.get(t, be.prefix+"bad")
				if status != 200 || body != "ok" {
					t.Errorf("bad names: %d %q, want 200 \"ok\"", status, body)
				}
				good := false
				for _, n := range names {
					if !httpguts.ValidHeaderFieldName(n) {
						t.Errorf("the client got field %q", n)
					}
					good = good || strings.EqualFold(n, "x-good")
				}
				if !good {
					t.Errorf("x-good missing from %q", names)
				}
				if status, body, _ := cl.get(t, be.prefix+"next"); status != 200 || body != "path:"+be.prefix+"next" {
					t.Errorf("the next request: %d %q", status, body)
				}
				notReusedAfter(t, be.b, "/bad")
			})
		}
	}
}

// notReusedAfter checks that no request followed, on its backend
// connection, any request to b whose target ends in suffix.
func notReusedAfter(t *testing.T, b *advBackend, suffix string) {
	t.Helper()
	reqs := b.requests()
	last := map[int]int{} // connection: the last request's Seq
	for _, r := range reqs {
		last[r.Conn] = max(last[r.Conn], r.Seq)
	}
	seen := 0
	for _, r := range reqs {
		if strings.HasSuffix(r.Target, suffix) {
			seen++
			if r.Seq != last[r.Conn] {
				t.Errorf("connection %d carried more after %s", r.Conn, r.Target)
			}
		}
	}
	if seen == 0 {
		t.Errorf("the backend saw no request to *%s", suffix)
	}
}
