package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzRequestHead holds the request writers to the request parser: a
// request that validateRequest lets through (method, path, query, Host, a
// field, as an HTTP/2 server could hand them over) is written as exactly
// one HTTP/1.1 request, which http.ReadRequest reads back with the same
// method, target, Host and field, and nothing after it: no input may
// smuggle a second request or a field into the head.
func FuzzRequestHead(f *testing.F) {
	for _, s := range [][5]string{
		{"GET", "/a", "x=1", "h2.test", "X-A: v"},
		{"POST", "/a b", "", "h2.test:8080", "X-A:  padded\t"},
		{"GET /smuggled", "/", "", "h", "X-A: v"},
		{"GET", "/q", "a=b HTTP/1.1\r\nHost: x\r\n\r\nGET /smuggled", "h", "X-A: v"},
		{"GET", "/%2F?#", "a#b", "[::1]:80", "X-A: \xe9"},
		{"OPTIONS", "/", "", "h", "Content-Length: 5"},
		{"get", "/", "", "h", "x-a: 1\r\nX-B: 2"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(func(t *testing.T, method, path, query, host, field string) {
		name, value, _ := strings.Cut(field, ":")
		req := &http.Request{
			Method: method, Host: host, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			URL:    &url.URL{Scheme: "http", Host: "backend.test", Path: "/" + path, RawQuery: query},
			Header: http.Header{},
		}
		if name != "" {
			req.Header[name] = []string{value}
		}
		if method == "" || validateRequest(req) != nil {
			return
		}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		if !writeRequestHead(bw, req) {
			if err := req.Write(bw); err != nil {
				return // refused by net/http's writer: nothing to check
			}
		}
		bw.Flush()
		wire := buf.String()
		br := bufio.NewReader(strings.NewReader(wire))
		got, err := http.ReadRequest(br)
		if err != nil {
			if host == "" || !validHost(host) {
				return // net/http's writer blanks or refuses such a Host
			}
			t.Fatalf("the head does not parse: %v\n%q", err, wire)
		}
		io.Copy(io.Discard, got.Body)
		if rest, _ := io.ReadAll(br); len(rest) != 0 {
			t.Fatalf("bytes after the request: %q\n%q", rest, wire)
		}
		if got.Method != method || got.URL.RawQuery != query || got.Host != host {
			t.Fatalf("read %q %q (query %q) Host %q, wrote %q %q %q %q\n%q",
				got.Method, got.RequestURI, got.URL.RawQuery, got.Host, method, path, query, host, wire)
		}
		if got.URL.EscapedPath() != req.URL.EscapedPath() {
			t.Fatalf("path read %q, wrote %q\n%q", got.URL.EscapedPath(), req.URL.EscapedPath(), wire)
		}
		if k := http.CanonicalHeaderKey(name); name != "" && !framingKey(k) {
			if v := got.Header.Values(k); len(v) != 1 || v[0] != trimOWS(value) {
				t.Fatalf("field %s read %q, wrote %q\n%q", k, v, value, wire)
			}
		}
	})
}

// framingKey reports whether the writers compute k themselves.
func framingKey(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer", "Connection":
		return true
	}
	return false
}
