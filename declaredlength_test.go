package smartproxy

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestCheckDeclaredLength(t *testing.T) {
	tests := []struct {
		name  string
		proto int
		cl    []string // the content-length field; nil: none
		n     int64    // ContentLength as the server set it
		body  io.Reader
		ok    bool
	}{
		{"no field", 2, nil, -1, strings.NewReader("abc"), true},
		{"no field, no body", 2, nil, 0, strings.NewReader(""), true},
		{"matching", 2, []string{"3"}, 3, strings.NewReader("abc"), true},
		{"declared 0, no data", 2, []string{"0"}, 0, strings.NewReader(""), true},
		{"declared 0, data", 2, []string{"0"}, 0, strings.NewReader("x"), false},
		{"declared 0, stream reset", 2, []string{"0"}, 0, errReader{errors.New("stream reset")}, false},
		{"unparsable", 2, []string{"5x"}, 0, strings.NewReader(""), false},
		{"signed", 2, []string{"+5"}, 0, strings.NewReader(""), false},
		{"list", 2, []string{"5, 5"}, 0, strings.NewReader(""), false},
		{"two values", 2, []string{"3", "30"}, 3, strings.NewReader("abc"), false},
		{"declared, no data", 2, []string{"40"}, 0, strings.NewReader(""), false},
		{"HTTP/3 too", 3, []string{"5x"}, 0, strings.NewReader(""), false},
		{"HTTP/1.1 is its server's", 1, []string{"0"}, 0, strings.NewReader("x"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{ProtoMajor: tc.proto, Header: http.Header{}, ContentLength: tc.n,
				Body: io.NopCloser(tc.body)}
			if tc.cl != nil {
				r.Header["Content-Length"] = tc.cl
			}
			err := checkDeclaredLength(nil, r, 0)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, errDeclaredLength)) {
				t.Errorf("checkDeclaredLength = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// An HTTP/3 body that ends short of its declared length fails its last
// read with errDeclaredLength (quic-go's reads a clean EOF); one that ends
// on it reads to a plain EOF.
func TestDeclaredLengthShortHTTP3Body(t *testing.T) {
	tests := []struct {
		name  string
		proto int
		n     int64
		body  string
		short bool
	}{
		{"HTTP/3 whole", 3, 5, "hello", false},
		{"HTTP/3 short", 3, 100, "hello", true},
		{"HTTP/3 empty", 3, 40, "", true},
		{"HTTP/2 is its server's", 2, 100, "hello", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{ProtoMajor: tc.proto, ContentLength: tc.n,
				Header: http.Header{"Content-Length": {strconv.FormatInt(tc.n, 10)}},
				Body:   io.NopCloser(strings.NewReader(tc.body))}
			if err := checkDeclaredLength(nil, r, 0); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r.Body)
			if string(got) != tc.body || errors.Is(err, errDeclaredLength) != tc.short || (!tc.short && err != nil) {
				t.Errorf("read %q, %v; want %q and short %v", got, err, tc.body, tc.short)
			}
		})
	}
}

// A request without a content-length field, the usual HTTP/2 one, costs
// no allocation.
func BenchmarkCheckDeclaredLength(b *testing.B) {
	r := &http.Request{ProtoMajor: 2, Header: http.Header{"Accept": {"*/*"}}, Body: http.NoBody}
	b.ReportAllocs()
	for b.Loop() {
		if err := checkDeclaredLength(nil, r, 0); err != nil {
			b.Fatal(err)
		}
	}
}
