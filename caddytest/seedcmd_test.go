package caddytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// The seed's own commands, as its readers type them:
//
//	go build -o proxy cmd/proxy/main.go
//	./proxy                       # default configuration
//	./proxy -config config.yaml   # custom configuration
//
// They use the seed's fixed ports: the proxy on 8080, its backends on 3001
// and 3002, and Caddy's default admin endpoint on 2019.
var seedPorts = []string{"8080", "3001", "3002", "2019"}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildSeedProxy runs the seed's build command, with the binary written to
// a temporary directory, and returns the binary's path.
func buildSeedProxy(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build cmd/proxy: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "proxy")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "cmd/proxy/main.go")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -o proxy cmd/proxy/main.go: %v\n%s", err, out)
	}
	return bin
}

// runSeedProxy starts bin with args in dir and returns its stderr; the
// process is stopped (SIGINT, then killed) when the test ends.
func runSeedProxy(t *testing.T, bin, dir string, args ...string) *syncBuffer {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// Caddy's autosave and storage go to the test's directory.
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("proxy %s stderr:\n%s", strings.Join(args, " "), stderr.String())
		}
	})
	return &stderr
}

// seedBackend serves name on addr (the seed's backend ports), and 200 on
// /health for the health check.
func seedBackend(t *testing.T, addr, name string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("backend %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// seedGet asks the seed's proxy for path until it answers (the process
// is starting), for at most 30 seconds.
func seedGet(t *testing.T, url string) (int, string, time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		start := time.Now()
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(body), time.Since(start)
		}
		var op *net.OpError
		if !errors.As(err, &op) || time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond) // the process is still starting
	}
}

// TestSeedCommands runs the seed's three commands as written: the build,
// `./proxy` (the built-in default: nothing listens on its backends' ports,
// so it answers at once with an error rather than hanging) and `./proxy
// -config examples/config.yaml` in front of the seed's two backends.
func TestSeedCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/proxy")
	}
	for _, port := range seedPorts {
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatalf("the seed's port %s is taken (%v): this test needs 8080, 3001, 3002 and 2019 free", port, err)
		}
		ln.Close()
	}
	bin := buildSeedProxy(t)

	t.Run("./proxy: the built-in default", func(t *testing.T) {
		stderr := runSeedProxy(t, bin, t.TempDir()) // no config.yaml there
		code, body, took := seedGet(t, "http://127.0.0.1:8080/")
		t.Logf("no backends: %d %q in %v", code, body, took)
		if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "503 Service Unavailable: no backend is available") {
			t.Errorf("with no backends: %d %q, want 503 saying no backend is available", code, body)
		}
		if took > 5*time.Second {
			t.Errorf("with no backends the answer took %v", took)
		}
		for _, want := range []string{
			"proxy: running examples/config.yaml (the default configuration, built in",
			"proxy: serving http://localhost:8080/",
			"proxy: status: http://localhost:2019/smartproxy/status",
		} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks %q", want)
			}
		}
	})

	t.Run("./proxy -config examples/config.yaml", func(t *testing.T) {
		seedBackend(t, "127.0.0.1:3001", "backend 3001")
		seedBackend(t, "127.0.0.1:3002", "backend 3002")
		stderr := runSeedProxy(t, bin, "..", "-config", "examples/config.yaml")
		seen := map[string]int{}
		// Distinct paths: the seed's cache would answer a repeated one.
		// Six requests stay inside the rate limit's burst of 10.
		for _, path := range []string{"/a", "/b", "/c", "/d", "/e", "/f"} {
			code, body, _ := seedGet(t, "http://127.0.0.1:8080"+path)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %q", path, code, body)
			}
			seen[body]++
		}
		if seen["backend 3001"] == 0 || seen["backend 3002"] == 0 {
			t.Errorf("answers %v, want both backends", seen)
		}
		code, body, _ := seedGet(t, "http://localhost:2019/smartproxy/status")
		if code != http.StatusOK || !strings.Contains(body, `"url":"http://localhost:3002"`) {
			t.Errorf("status: %d %.200q", code, body)
		}
		abs, _ := filepath.Abs("../examples/config.yaml")
		if want := "proxy: running " + abs + " (given with -config)"; !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q", want)
		}
	})
}

// TestYAMLErrorBodies: a config from the YAML adapter answers errors with
// the status and a plain-text reason, not an empty body, and keeps the
// headers the handler set (Retry-After on a 429); answers that succeed
// are untouched. (A 503 comes from the open breaker: no backend may
// take the request.)
func TestYAMLErrorBodies(t *testing.T) {
	b := newBackend(t, "ok", nil)
	cfg := fmt.Sprintf(`server: {port: 9080, host: 127.0.0.1}
admin: localhost:2999
logging: error
backends: [{url: %q}]
routes:
  - path: /dead
    backends: [{url: %q}]
  - path: /broken
    backends: [{url: %q}]
    circuit_breaker: {failure_threshold: 1}
  - path: /limited
    backends: [{url: %q}]
    rate_limit: {requests_per_second: 1, burst: 1}
`, b.URL, deadURL(t), deadURL(t), b.URL)
	caddytest.NewTester(t).InitServer(cfg, "yaml")
	if t.Failed() {
		t.FailNow()
	}
	client := newClient()
	fetch := func(path string) (*http.Response, string) {
		resp, err := client.Get(proxyURL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	if resp, body := fetch("/"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("GET /: %d %q", resp.StatusCode, body)
	}
	fetch("/limited") // spends the burst
	fetch("/broken")  // 502, and its breaker opens
	for _, tc := range []struct {
		path   string
		status int
		body   string
		header string // that must be kept
	}{
		{"/dead", 503, "503 Service Unavailable: no backend is available\n", ""},
		{"/broken", 503, "503 Service Unavailable: no backend is available\n", ""},
		{"/limited", 429, "429 Too Many Requests: the rate limit is exceeded; retry after the Retry-After header's seconds\n", "Retry-After"},
	} {
		resp, body := fetch(tc.path)
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", tc.path, ct)
		}
		if tc.header != "" && resp.Header.Get(tc.header) == "" {
			t.Errorf("GET %s: the %s header was lost", tc.path, tc.header)
		}
	}
}
