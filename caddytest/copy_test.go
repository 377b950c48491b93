package caddytest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// A server that speaks HTTP/1 only (protocols ["h1"], as the benchmark
// harness has it) hides its sockets from Go's splice: Caddy wraps each
// plain connection to refuse HTTP/2's preface. There the proxy copies large
// bodies itself through large buffers instead of handing them to net/http,
// which would copy through 32 KiB ones. The framing is the splice path's:
// the body exactly, on a connection kept alive, nothing past the backend's
// Content-Length, a body cut short an error. Caddy runs as its own process
// so that its read(2) calls can be counted (/proc/PID/io's syscr): a 1 MiB
// body takes 32 of them through 32 KiB buffers and about 9 through large
// ones.
func TestLargeBodiesCopiedWhereNoSplice(t *testing.T) {
	const size = 1 << 20
	b, body := largeBodyBackend(t, size)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := startCaddyProcess(t, fmt.Sprintf(`{"admin": {"disabled": true},
		"logging": {"logs": {"default": {"level": "ERROR"}}},
		"apps": {"http": {"servers": {"sp": {"listen": [%q], "protocols": ["h1"], "automatic_https": {"disable": true},
			"routes": [{"handle": [{"handler": "smartproxy", "backends": [{"url": %q}]}]}]}}}}}`, addr, b.URL), os.Environ())

	var conn net.Conn
	if !eventually(20*time.Second, func() bool { conn, err = net.Dial("tcp", addr); return err == nil }) {
		t.Fatalf("caddy on %s did not start: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	fetch := bodyFetcher(conn, addr, size)

	if got, err := fetch("/"); err != nil || !bytes.Equal(got, body) { // warms the backend's pool
		t.Fatalf("first fetch: %d bytes, %v; want the body exactly", len(got), err)
	}
	const rounds = 8
	before, haveIO := syscr(t, cmd.Process.Pid)
	for i := range rounds {
		if got, err := fetch("/"); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("round %d: %d bytes, %v; want the body exactly", i, len(got), err)
		}
	}
	if after, _ := syscr(t, cmd.Process.Pid); haveIO {
		perBody := float64(after-before) / rounds
		t.Logf("read(2) calls of the proxy per 1 MiB body: %.1f", perBody)
		if perBody > 20 {
			t.Errorf("%.1f read(2) calls per 1 MiB body: the proxy read it through small buffers (want about 9)", perBody)
		}
	}

	for _, path := range []string{"/extra", "/"} {
		if got, err := fetch(path); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%s on the same connection: %d bytes, %v; want the body exactly, not the smuggled answer", path, len(got), err)
		}
	}
	got, err := fetch("/cut")
	if err == nil {
		t.Fatalf("/cut: a complete response of %d bytes from a body cut short", len(got))
	}
	if len(got) > size/2 {
		t.Fatalf("/cut: %d bytes, more than the backend sent", len(got))
	}
}

// syscr reads how many read(2) calls (and their kin) process pid has
// made; false where /proc/PID/io is not there.
func syscr(t *testing.T, pid int) (int, bool) { return procIO(t, strconv.Itoa(pid), "syscr") }

// A client that stops reading a large copied body is dropped after the
// server's write_idle_timeout, as Caddy's own writer drops it: the copy
// writes max_write_chunk pieces each under a fresh deadline, so the large
// buffer it holds goes back within that time and a stalled reader cannot
// keep it.
func TestStalledReaderOfCopiedBodyIsDropped(t *testing.T) {
	const size = 16 << 20
	b, _ := largeBodyBackend(t, size)
	srv := plainServer(proxyAddr, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	srv["protocols"] = []string{"h1"}
	srv["write_idle_timeout"] = "300ms"
	startConfig(t, map[string]any{"servers": map[string]any{"sp": srv}})

	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	conn, err := d.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", proxyAddr)
	head := make([]byte, 64)
	if _, err := io.ReadFull(conn, head); err != nil || !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
		t.Fatalf("head: %q, %v", head, err)
	}
	// Stall well past the idle timeout, then read on. This waits in real
	// time: the deadline is the kernel's, there is no clock to move.
	time.Sleep(2 * time.Second)
	n, err := io.Copy(io.Discard, conn)
	t.Logf("after a 2 s stall: %d more bytes, %v", n, err)
	if n+int64(len(head)) >= size {
		t.Fatalf("the stalled client got the whole %d-byte body (%d bytes): it was not dropped", size, n)
	}
}
