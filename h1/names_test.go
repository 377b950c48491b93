package h1

import (
	"context"
	"io"
	"net/http"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// A head whose field names are not all tokens goes to http.ReadResponse
// (fastHead refuses it), which keeps "X Bad" and "Content-Length " under
// those names: they are dropped, the rest of the answer delivered, and the
// connection closed after it, the backend not trusted with another
// exchange. The same answers without the bad names keep their connection.
func TestBadFieldNamesDroppedConnNotReused(t *testing.T) {
	cases := []struct {
		name, first string
		reuse       bool
	}{
		{"clean, slow path", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n2\r\nok\r\n0\r\n\r\n", true},
		{"space in a name", "HTTP/1.1 200 OK\r\nX Bad: 1\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok", false},
		{"space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 100\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok", false},
		{"chunked, space in a name", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX Bad: 1\r\nX-A: 1\r\n\r\n" +
			"2\r\nok\r\n0\r\n\r\n", false},
		{"in a 103, then a plain 200", "HTTP/1.1 103 Early Hints\r\nX Bad: 1\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := hostileBackend(t, tc.first, "", nil)
			tr := New(Config{})
			defer tr.Close()
			var interim []http.Header
			ih := interimFunc(func(code int, h http.Header) error {
				interim = append(interim, h.Clone())
				return nil
			})
			resp, err := tr.RoundTripInterim(mustReq(t, context.Background(), "GET", rs.url(), nil), ih)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || body != "ok" || resp.Header.Get("X-A") != "1" {
				t.Fatalf("got %d %q %v, want 200 \"ok\" with X-A", resp.StatusCode, body, resp.Header)
			}
			for _, h := range append(interim, resp.Header) {
				for k := range h {
					if !httpguts.ValidHeaderFieldName(k) {
						t.Errorf("field %q: %q kept", k, h[k])
					}
				}
			}
			if resp, body := get(t, tr, rs.url()); resp.StatusCode != 200 || body != "next" {
				t.Fatalf("the next request read %d %q", resp.StatusCode, body)
			}
			want := int64(2)
			if tc.reuse {
				want = 1
			}
			if n := rs.accepted.Load(); n != want {
				t.Errorf("connections = %d, want %d (reused: %v)", n, want, tc.reuse)
			}
		})
	}
}

// interimFunc is an InterimHandler of a function.
type interimFunc func(code int, h http.Header) error

func (f interimFunc) Interim(code int, h http.Header) error { return f(code, h) }
