package caddytest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// spliceBody is a body whose every byte depends on its offset.
func spliceBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + i/509)
	}
	return b
}

// Large bodies to a plain-HTTP/1.1 client are spliced (socket to socket)
// and keep the framing exactly: the body as sent, nothing past the
// backend's Content-Length reaches the client, and a body cut short aborts
// the client's connection rather than ending a response early. The proof
// that the bytes did not pass through the process: /proc/self/io's rchar
// (bytes read by read(2) and the like, which splice(2) is not) grows by
// about one copy of the bodies (the test's client reading them), not two.
func TestSpliceLargeBodies(t *testing.T) {
	const size = 1 << 20
	b, body := largeBodyBackend(t, size)
	newTesterJSON(t, fmt.Sprintf(`{"handler": "smartproxy", "backends": [{"url": %q}]}`, b.URL))

	conn, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fetch := bodyFetcher(conn, proxyAddr, size)

	const rounds = 8
	before, haveIO := rchar(t)
	for i := range rounds {
		got, err := fetch("/")
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("round %d: %d bytes, %v; want the body exactly", i, len(got), err)
		}
	}
	if after, _ := rchar(t); haveIO {
		read := after - before
		t.Logf("read(2) bytes for %d bodies of %d: %d (%.2f copies)", rounds, size, read, float64(read)/(rounds*size))
		if read > rounds*size*3/2 {
			t.Errorf("%d bytes read for %d bodies of %d: the proxy copied them (want about one copy, the client's)", read, rounds, size)
		}
	}

	got, err := fetch("/extra")
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("/extra: %d bytes, %v; want the body exactly", len(got), err)
	}
	got, err = fetch("/")
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("after /extra, same connection: %d bytes, %v; want the body, not the smuggled answer", len(got), err)
	}

	got, err = fetch("/cut")
	if err == nil {
		t.Fatalf("/cut: a complete response of %d bytes from a body cut short", len(got))
	}
	if len(got) > size/2 {
		t.Fatalf("/cut: %d bytes, more than the backend sent", len(got))
	}
}

// bodyFetcher returns a function that GETs a path over conn, a connection
// to addr, and reads the body of the answer, which must be 200 with a
// Content-Length of size, the connection kept alive.
func bodyFetcher(conn net.Conn, addr string, size int64) func(path string) ([]byte, error) {
	br := bufio.NewReader(conn)
	return func(path string) ([]byte, error) {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ContentLength != size || resp.Close {
			return nil, fmt.Errorf("%s: status %d, length %d, close %v", path, resp.StatusCode, resp.ContentLength, resp.Close)
		}
		return io.ReadAll(resp.Body)
	}
}

// largeBodyBackend answers every path with a body of size bytes framed by
// Content-Length, but "/cut" (half of it, then the close) and "/extra"
// (the body, then a smuggled second answer on the same connection).
func largeBodyBackend(t *testing.T, size int) (*advBackend, []byte) {
	body := spliceBody(size)
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
	b := newAdvBackend(t)
	b.setScript(func(r *advRequest) *advReply {
		switch r.Target {
		case "/cut":
			return &advReply{Raw: head + string(body[:size/2]), Close: true}
		case "/extra":
			return &advReply{Raw: head + string(body) + "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"}
		}
		return &advReply{Raw: head + string(body)}
	})
	return b, body
}

// Over TLS (HTTP/1.1 and HTTP/2) large bodies take the copy path, with the
// same framing: the body exactly, nothing smuggled, a body cut short an
// error for the client rather than a shorter response.
func TestLargeBodiesOverTLS(t *testing.T) {
	const size = 1 << 20
	b, body := largeBodyBackend(t, size)
	startPlainAndTLS(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	for _, tc := range []struct {
		name  string
		h2    bool
		proto string
	}{{"HTTP/1.1 over TLS", false, "HTTP/1.1"}, {"HTTP/2", true, "HTTP/2.0"}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the test's own internal CA
				ForceAttemptHTTP2: tc.h2}
			if !tc.h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			defer tr.CloseIdleConnections()
			c := &http.Client{Timeout: 20 * time.Second, Transport: tr}
			fetch := func(path string) ([]byte, string, error) {
				resp, err := c.Get("https://" + tlsAddr + path)
				if err != nil {
					return nil, "", err
				}
				defer resp.Body.Close()
				got, err := io.ReadAll(resp.Body)
				return got, resp.Proto, err
			}
			if !eventually(5*time.Second, func() bool { _, _, err := fetch("/"); return err == nil }) {
				t.Fatal("no HTTPS answer in 5s") // the certificate is issued in the background
			}
			for _, path := range []string{"/", "/extra", "/"} {
				got, proto, err := fetch(path)
				if err != nil || proto != tc.proto || !bytes.Equal(got, body) {
					t.Fatalf("%s: %d bytes over %s, %v; want the body exactly over %s", path, len(got), proto, err, tc.proto)
				}
			}
			if got, _, err := fetch("/cut"); err == nil || len(got) > size/2 {
				t.Fatalf("/cut: %d bytes, error %v; want at most %d and an error", len(got), err, size/2)
			}
		})
	}
}

// rchar reads the bytes this process has read through read(2) and its
// kin; false where /proc/self/io is not there.
func rchar(t *testing.T) (int, bool) { return procIO(t, "self", "rchar") }

// procIO reads a field of /proc/PROC/io; false where it is not there.
func procIO(t *testing.T, proc, field string) (int, bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + proc + "/io")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+": "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("/proc/%s/io: %q", proc, line)
			}
			return n, true
		}
	}
	return 0, false
}
