package caddytest

import (
	"bufio"
	"bytes"
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
	body := spliceBody(size)
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
	b := newAdvBackend(t)
	b.setScript(func(r *advRequest) *advReply {
		switch r.Target {
		case "/cut": // half the body, then the close
			return &advReply{Raw: head + string(body[:size/2]), Close: true}
		case "/extra": // a smuggled second answer after the body
			return &advReply{Raw: head + string(body) + "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"}
		}
		return &advReply{Raw: head + string(body)}
	})
	newTesterJSON(t, fmt.Sprintf(`{"handler": "smartproxy", "backends": [{"url": %q}]}`, b.URL))

	conn, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	fetch := func(path string) ([]byte, error) {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, proxyAddr)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ContentLength != size {
			return nil, fmt.Errorf("%s: status %d, length %d", path, resp.StatusCode, resp.ContentLength)
		}
		return io.ReadAll(resp.Body)
	}

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

// rchar reads the bytes this process has read through read(2) and its
// kin; false where /proc/self/io is not there.
func rchar(t *testing.T) (int, bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("/proc/self/io: %q", line)
			}
			return n, true
		}
	}
	return 0, false
}
