package caddytest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssKiB reads a process's resident set size.
func rssKiB(b *testing.B, pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skip("no /proc: cannot read RSS here")
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkTenThousandConnections holds 10,000 keep-alive client
// connections open through a smartproxy process (each has made one proxied
// request) and reports the proxy's resident memory. It is a benchmark, not
// a CI test: it needs ~10,000 file descriptors on each side.
//
//	go test -run '^$' -bench TenThousand -benchtime 1x ./caddytest
func BenchmarkTenThousandConnections(b *testing.B) {
	const conns = 10000
	backendSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go backendSrv.Serve(bl)
	defer backendSrv.Close()
	addr := benchFreeAddr(b)
	pid, stop := benchCaddyProcess(b, addr, fmt.Sprintf(`{"handler": "smartproxy", "backends": [{"url": "http://%s"}]}`, bl.Addr()))
	defer stop()
	before := rssKiB(b, pid)
	open := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for range b.N {
		for len(open) < conns {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				b.Fatalf("connection %d: %v", len(open), err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("connection %d: %v", len(open), err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			open = append(open, c)
		}
	}
	time.Sleep(time.Second)
	after := rssKiB(b, pid)
	b.ReportMetric(float64(after)/1024, "MiB-RSS")
	b.ReportMetric(float64(after-before)/conns, "KiB/conn")
	b.Logf("proxy RSS: %d MiB idle, %d MiB with %d keep-alive connections (%.1f KiB each)",
		before/1024, after/1024, conns, float64(after-before)/conns)
}

func benchFreeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// benchCaddyProcess runs this test binary as a Caddy (see TestMain) with
// the handler on addr and returns its pid.
func benchCaddyProcess(b *testing.B, addr, handler string) (int, func()) {
	cfg := fmt.Sprintf(`{"admin": {"disabled": true}, "logging": {"logs": {"default": {"level": "ERROR"}}},
		"apps": {"http": {"servers": {"sp": {"listen": [%q], "automatic_https": {"disable": true},
			"routes": [{"handle": [%s]}]}}}}}`, addr, handler)
	dir := b.TempDir()
	file := dir + "/caddy.json"
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "SMARTPROXY_TEST_CADDY_CONFIG="+file, "HOME="+dir)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	if !eventually(20*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		stop()
		b.Fatal("caddy did not start")
	}
	return cmd.Process.Pid, stop
}
