package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// failingBody yields some bytes, then err.
type failingBody struct {
	data string
	err  error
}

func (b *failingBody) Read(p []byte) (int, error) {
	if b.data == "" {
		return 0, b.err
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

// echoBackend reads each request whole and answers with its body.
func echoBackend(t *testing.T) *rawServer {
	return newRawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			_, body, err := readRequest(br)
			if err != nil {
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	})
}

// A request body that fails to read is the client's failure: RoundTrip
// says so with a *RequestBodyError that unwraps to the body's error, and
// the half-sent connection is not pooled.
func TestRequestBodyError(t *testing.T) {
	errClient := errors.New("client went away")
	cases := []struct {
		name  string
		body  func() io.Reader
		check func(*testing.T, error)
	}{
		{"reader error", func() io.Reader { return &failingBody{"part", errClient} }, func(t *testing.T, err error) {
			if !errors.Is(err, errClient) {
				t.Errorf("err %v does not wrap the body's error", err)
			}
		}},
		{"MaxBytesReader limit", func() io.Reader {
			return http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(strings.Repeat("x", 100))), 10)
		}, func(t *testing.T, err error) {
			var mbe *http.MaxBytesError
			if !errors.As(err, &mbe) || mbe.Limit != 10 {
				t.Errorf("err %v: no *http.MaxBytesError with limit 10", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := echoBackend(t)
			tr := New(Config{})
			defer tr.Close()
			get(t, tr, rs.url()) // a pooled connection to send the body on
			_, err := tr.RoundTrip(mustReq(t, context.Background(), "POST", rs.url(), tc.body()))
			var rbe *RequestBodyError
			if !errors.As(err, &rbe) {
				t.Fatalf("err = %v (%T), want a *RequestBodyError", err, err)
			}
			tc.check(t, err)
			var de DialError
			if errors.As(err, &de) || errors.Is(err, ErrResponseHeaderTimeout) {
				t.Errorf("err %v passes for a backend failure", err)
			}
			if n := tr.idleCount(); n != 0 {
				t.Errorf("%d idle connections: the half-sent one was pooled", n)
			}
			if _, body := get(t, tr, rs.url()); body != "" {
				t.Errorf("next request got %q", body)
			}
		})
	}
}

// A client's malformed chunked upload, forwarded by a real net/http
// server, fails as a RequestBodyError, which such a proxy answers 400.
func TestMalformedChunkedUploadIsClientError(t *testing.T) {
	backend := echoBackend(t)
	tr := New(Config{})
	defer tr.Close()
	errs := make(chan error, 1)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := mustReq(t, r.Context(), "POST", backend.url(), r.Body)
		resp, err := tr.RoundTrip(out)
		errs <- err
		if err == nil {
			resp.Body.Close()
		}
		var rbe *RequestBodyError
		if errors.As(err, &rbe) {
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer front.Close()
	c, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: front\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-errs; err == nil {
		t.Fatal("RoundTrip succeeded on a malformed upload")
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("front answered %d, want 400 from a RequestBodyError", resp.StatusCode)
	}
}

// Header fields that could break the framing are refused before anything
// is sent, with ErrInvalidHeader.
func TestInvalidHeaderRefused(t *testing.T) {
	rs := echoBackend(t)
	tr := New(Config{})
	defer tr.Close()
	cases := map[string]func(*http.Request){
		"CRLF in a value":    func(r *http.Request) { r.Header.Set("X-A", "a\r\nInjected: 1") },
		"bare LF in a value": func(r *http.Request) { r.Header.Set("X-A", "a\nInjected: 1") },
		"bare CR in a value": func(r *http.Request) { r.Header.Set("X-A", "a\rb") },
		"NUL in a value":     func(r *http.Request) { r.Header.Set("X-A", "a\x00b") },
		"DEL in a value":     func(r *http.Request) { r.Header.Set("X-A", "a\x7fb") },
		"space in a name":    func(r *http.Request) { r.Header["Bad Name"] = []string{"1"} },
		"colon in a name":    func(r *http.Request) { r.Header["X:Y"] = []string{"1"} },
		"empty name":         func(r *http.Request) { r.Header[""] = []string{"1"} },
		"lower-case Content-Length": func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("x"))
			r.Header["content-length"] = []string{"0"}
		},
		"lower-case Transfer-Encoding": func(r *http.Request) { r.Header["transfer-encoding"] = []string{"chunked"} },
		"CRLF in the Host":             func(r *http.Request) { r.Host = "a\r\nX-Injected: 1" },
		"space in the Host":            func(r *http.Request) { r.Host = "a b" },
		"space in the method":          func(r *http.Request) { r.Method = "GET /admin" },
		"CRLF in the method":           func(r *http.Request) { r.Method = "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET" },
		"comma in the method":          func(r *http.Request) { r.Method = "GET,POST" },
		"space in the query":           func(r *http.Request) { r.URL.RawQuery = "a=b HTTP/1.1" },
		"tab in the query":             func(r *http.Request) { r.URL.RawQuery = "a=b\tc" },
		"CRLF in a trailer": func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("x"))
			r.Trailer = http.Header{"X-T": {"a\r\nInjected: 1"}}
		},
		"CRLF with a body": func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("x"))
			r.Header.Set("X-A", "a\r\nInjected: 1")
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			req := mustReq(t, context.Background(), "GET", rs.url(), nil)
			f(req)
			_, err := tr.RoundTrip(req)
			if !errors.Is(err, ErrInvalidHeader) {
				t.Errorf("err = %v, want ErrInvalidHeader", err)
			}
		})
	}
	if n := rs.accepted.Load(); n != 0 {
		t.Errorf("%d connections made for refused requests, want none", n)
	}
	// Tabs and obs-text are fine, as in net/http.
	req := mustReq(t, context.Background(), "GET", rs.url(), nil)
	req.Header.Set("X-A", "a\tb \xe9")
	if resp, err := tr.RoundTrip(req); err != nil {
		t.Errorf("HTAB and obs-text refused: %v", err)
	} else {
		resp.Body.Close()
	}
}
