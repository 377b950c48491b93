package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// parseWritten reads back what a writer produced.
func parseWritten(t *testing.T, raw []byte) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("%v in %q", err, raw)
	}
	return r
}

func TestWriteRequestHeadMatchesRequestWrite(t *testing.T) {
	mk := func(method, target, host string, h http.Header) *http.Request {
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{Method: method, URL: u, Host: host, Header: h, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	}
	cases := []*http.Request{
		mk("GET", "http://b:80/", "example.com", http.Header{"Accept": {"*/*"}, "User-Agent": {""}}),
		mk("GET", "http://b:80/a%2Fb/c?x=1&y=%20", "example.com:8080", http.Header{"X-Multi": {"1", "2"}, "User-Agent": {"curl/8"}}),
		mk("HEAD", "http://b:80/p", "", http.Header{"X-Forwarded-For": {"192.0.2.1, 198.51.100.2"}}),
		mk("POST", "http://b:80/form", "h", http.Header{"User-Agent": {""}}),
		mk("DELETE", "http://b:80/x?", "h", http.Header{"Cookie": {"a=1; b=2"}, "Te": {"trailers"}, "User-Agent": {""}}),
		mk("OPTIONS", "http://b:80/*", "h", http.Header{"Accept-Encoding": {" gzip "}}),
	}
	for _, req := range cases {
		var fast, std bytes.Buffer
		bw := bufio.NewWriter(&fast)
		if !writeRequestHead(bw, req) {
			t.Fatalf("%s %s: fast path refused", req.Method, req.URL)
		}
		bw.Flush()
		if err := req.Write(&std); err != nil {
			t.Fatal(err)
		}
		a, b := parseWritten(t, fast.Bytes()), parseWritten(t, std.Bytes())
		if a.Method != b.Method || a.RequestURI != b.RequestURI || a.Host != b.Host || a.ContentLength != b.ContentLength ||
			!reflect.DeepEqual(a.Header, b.Header) {
			t.Errorf("%s %s:\nfast %q\nstd  %q", req.Method, req.URL, fast.Bytes(), std.Bytes())
		}
	}
}

func TestWriteRequestHeadRefusesWhatNeedsTheGeneralPath(t *testing.T) {
	u, _ := url.Parse("http://b/")
	base := func() *http.Request {
		return &http.Request{Method: "GET", URL: u, Host: "h", Header: http.Header{}}
	}
	cases := map[string]func(*http.Request){
		"body":           func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("x")) },
		"trailer":        func(r *http.Request) { r.Trailer = http.Header{"X": nil} },
		"close":          func(r *http.Request) { r.Close = true },
		"bad host":       func(r *http.Request) { r.Host = "a b" },
		"chunked header": func(r *http.Request) { r.TransferEncoding = []string{"chunked"} },
	}
	for name, f := range cases {
		r := base()
		f(r)
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		if writeRequestHead(bw, r) {
			t.Errorf("%s: fast path took it", name)
		}
		bw.Flush()
		if buf.Len() != 0 {
			t.Errorf("%s: wrote %q before refusing", name, buf.Bytes())
		}
	}
}

func BenchmarkWriteRequest(b *testing.B) {
	u, _ := url.Parse("http://127.0.0.1:19001/index.html?q=1")
	req := &http.Request{Method: "GET", URL: u, Host: "example.com", Header: http.Header{
		"Accept": {"*/*"}, "User-Agent": {""}, "X-Forwarded-For": {"192.0.2.1"},
		"X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"example.com"}, "Accept-Encoding": {"gzip"},
	}}
	bw := bufio.NewWriter(discard{})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writeRequestHead(bw, req)
			bw.Flush()
		}
	})
	b.Run("request_write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req.Write(bw)
			bw.Flush()
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
