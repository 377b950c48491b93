package smartproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/h1"
)

// interimSink records the 1xx written to it with the header map at the
// time, as net/http's server sends them.
type interimSink struct {
	*httptest.ResponseRecorder
	sent []string
}

func (s *interimSink) WriteHeader(code int) {
	if code < 200 {
		s.sent = append(s.sent, fmt.Sprint(code, " ", s.Header()))
		return
	}
	s.ResponseRecorder.WriteHeader(code)
}

// scripted1xx is a transport that reports the given interim responses to
// the request's trace, as h1 and Go's transport do, then answers 200.
type scripted1xx []textproto.MIMEHeader

func (s scripted1xx) RoundTrip(r *http.Request) (*http.Response, error) {
	tr := httptrace.ContextClientTrace(r.Context())
	for _, h := range s {
		code := 103
		fmt.Sscan(h.Get(":code"), &code)
		delete(h, ":code")
		if tr != nil && tr.Got1xxResponse != nil {
			if err := tr.Got1xxResponse(code, h); err != nil {
				return nil, err
			}
		}
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
}

func TestInterimHook(t *testing.T) {
	hint := func(code string, kv ...string) textproto.MIMEHeader {
		h := textproto.MIMEHeader{":code": {code}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	many := make(scripted1xx, maxInterim+1)
	for i := range many {
		many[i] = hint("103")
	}
	tests := []struct {
		name  string
		proto string
		rt    scripted1xx
		want  string
		err   error
	}{
		{"hints and processing", "HTTP/1.1", scripted1xx{hint("103", "Link", "</a>"), hint("102")},
			"[103 map[Link:[</a>] Server:[front]] 102 map[Server:[front]]]", nil},
		{"hop-by-hop dropped", "HTTP/2.0", scripted1xx{hint("103", "Link", "</a>", "Connection", "X-Secret", "X-Secret", "1", "Keep-Alive", "5")},
			"[103 map[Link:[</a>] Server:[front]]]", nil},
		{"100 and other 1xx not forwarded", "HTTP/1.1", scripted1xx{hint("100"), hint("104", "Link", "</x>")}, "[]", nil},
		{"HTTP/1.0 client gets none", "HTTP/1.0", scripted1xx{hint("103", "Link", "</a>")}, "[]", nil},
		{"endless 1xx fail the try", "HTTP/1.1", many, "", errTooManyInterim},
		{"a client field of the same name is put back", "HTTP/1.1", scripted1xx{hint("103", "Server", "hint")},
			"[103 map[Server:[hint]]]", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Proto, r.ProtoMajor, r.ProtoMinor, _ = tt.proto, int(tt.proto[5]-'0'), int(tt.proto[7]-'0'), true
			w := &interimSink{ResponseRecorder: httptest.NewRecorder()}
			w.Header().Set("Server", "front")
			out := r.Clone(r.Context())
			ih := installInterim(w, r, out, tt.rt)
			_, err := roundTripInterim(tt.rt, out, ih)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if tt.err == nil && fmt.Sprint(w.sent) != tt.want {
				t.Errorf("sent %v, want %s", w.sent, tt.want)
			}
			if got := fmt.Sprint(w.Header()); got != "map[Server:[front]]" {
				t.Errorf("header map after: %s", got)
			}
		})
	}
}

// TestInterimDisarmedAfterRoundTrip: a 1xx reported after RoundTrip
// returned (Go's transport reads on its own goroutine) is not written.
func TestInterimDisarmedAfterRoundTrip(t *testing.T) {
	w := &interimSink{ResponseRecorder: httptest.NewRecorder()}
	r := httptest.NewRequest("GET", "/", nil)
	out := r.Clone(r.Context())
	ih := installInterim(w, r, out, scripted1xx{})
	if _, err := roundTripInterim(scripted1xx{}, out, ih); err != nil {
		t.Fatal(err)
	}
	tr := httptrace.ContextClientTrace(out.Context())
	if err := tr.Got1xxResponse(103, textproto.MIMEHeader{"Link": {"</late>"}}); err != nil || len(w.sent) != 0 {
		t.Errorf("late 1xx: err %v, sent %v", err, w.sent)
	}
}

// Over h1 the hook is handed to the transport directly: the 1xx reach the
// client as through a context's trace, the outbound request keeps its
// context (no per-request trace), and the hook goes back to its pool.
func TestInterimDirectToH1(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"+
			"HTTP/1.1 102 Processing\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}()
	tr := h1.New(h1.Config{})
	defer tr.Close()
	w := &interimSink{ResponseRecorder: httptest.NewRecorder()}
	w.Header().Set("Server", "front")
	r := httptest.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
	out := r.Clone(r.Context())
	out.RequestURI = ""
	ctx := out.Context()
	ih := installInterim(w, r, out, tr)
	if !ih.direct || out.Context() != ctx {
		t.Fatalf("direct %v, context replaced %v: want the hook handed to h1", ih.direct, out.Context() != ctx)
	}
	resp, err := roundTripInterim(tr, out, ih)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	ih.release()
	if got, want := fmt.Sprint(w.sent), "[103 map[Link:[</a>] Server:[front]] 102 map[Server:[front]]]"; got != want {
		t.Errorf("sent %s, want %s", got, want)
	}
	if ih.w != nil {
		t.Error("released hook still holds the response writer")
	}
}
