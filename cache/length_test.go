package cache

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestImplicitLengthFraming serves hits through a real net/http server
// (HTTP/1.1 on loopback, read off the wire) with and without
// ImplicitLength: every hit keeps a Content-Length equal to its body and is
// never chunked, whoever writes the field; under ImplicitLength the small
// GET hits' field is net/http's (it is absent from the handler's header
// map), while HEAD, 304, 206 and bodies past net/http's buffer carry the
// stored or computed one.
func TestImplicitLengthFraming(t *testing.T) {
	small, edge, big := strings.Repeat("s", 1024), strings.Repeat("e", implicitLengthMax), strings.Repeat("b", implicitLengthMax+1)
	bodies := map[string]string{"/small": small, "/edge": edge, "/big": big, "/empty": ""}
	for _, implicit := range []bool{false, true} {
		t.Run(fmt.Sprintf("implicit=%v", implicit), func(t *testing.T) {
			c, _ := newTestCache(t, Settings{ImplicitLength: implicit})
			fetch := FetchFunc(func(w http.ResponseWriter, r *http.Request) error {
				body := bodies[r.URL.Path]
				w.Header().Set("Cache-Control", "max-age=60")
				w.Header().Set("ETag", `"v"`)
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				_, err := io.WriteString(w, body)
				return err
			})
			mapLength := make(chan string, 1) // the field in the handler's map when the hit returned
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				st, err := c.Serve(w, r, fetch)
				if err != nil {
					t.Errorf("%s %s: %v", r.Method, r.URL, err)
				}
				if st == StatusHit {
					mapLength <- w.Header().Get("Content-Length")
				}
			}))
			defer srv.Close()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for _, path := range []string{"/small", "/edge", "/big", "/empty"} {
				exchange(t, conn, br, "GET", path, "") // the misses that store them
			}
			for _, tc := range []struct {
				name, method, path string
				hdr                string
				code               int
				length             string // on the wire
				fromServer         bool   // absent from the handler's map under ImplicitLength
			}{
				{"small GET", "GET", "/small", "", 200, "1024", true},
				{"GET at net/http's buffer", "GET", "/edge", "", 200, strconv.Itoa(len(edge)), true},
				{"GET past net/http's buffer", "GET", "/big", "", 200, strconv.Itoa(len(big)), false},
				{"empty GET", "GET", "/empty", "", 200, "0", true},
				{"HEAD", "HEAD", "/small", "", 200, "1024", false},
				{"304", "GET", "/small", "If-None-Match: \"v\"\r\n", 304, "", false},
				{"206", "GET", "/small", "Range: bytes=0-9\r\n", 206, "10", false},
			} {
				resp := exchange(t, conn, br, tc.method, tc.path, tc.hdr)
				var inMap string
				select {
				case inMap = <-mapLength:
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: not a hit", tc.name)
				}
				if resp.StatusCode != tc.code || resp.Header.Get("Content-Length") != tc.length || len(resp.TransferEncoding) != 0 {
					t.Errorf("%s: %d, Content-Length %q, Transfer-Encoding %v; want %d, %q, none",
						tc.name, resp.StatusCode, resp.Header.Get("Content-Length"), resp.TransferEncoding, tc.code, tc.length)
				}
				want := tc.length
				if implicit && tc.fromServer {
					want = "" // net/http writes it
				}
				if inMap != want {
					t.Errorf("%s: Content-Length %q in the handler's map, want %q", tc.name, inMap, want)
				}
				if got := resp.Header.Get("Age"); got == "" {
					t.Errorf("%s: no Age", tc.name)
				}
			}
		})
	}
}

// exchange writes one request on conn and reads its response whole.
func exchange(t *testing.T, conn net.Conn, br *bufio.Reader, method, path, hdr string) *http.Response {
	t.Helper()
	if _, err := fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: example.com\r\n%s\r\n", method, path, hdr); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("%s %s: body: %v", method, path, err)
	}
	resp.Body.Close()
	return resp
}
