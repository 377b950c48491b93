package caddytest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// processBackend runs this test binary as a backend process (see TestMain)
// on a free loopback port and returns its URL and process.
func processBackend(t *testing.T, name string) (string, *exec.Cmd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// Caddy's tester rewrites os.Args; the test binary is os.Executable.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), "SMARTPROXY_TEST_BACKEND="+addr, "SMARTPROXY_TEST_BACKEND_NAME="+name)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
		io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("backend process did not start")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("backend process did not start in 10s")
	}
	return "http://" + addr, cmd
}

// rawBackend accepts connections and hands each to serve. Cleanup closes
// the connections still open and waits for every serve to return.
func rawBackend(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// readRequestHead reads one request's head from c.
func readRequestHead(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil || line == "\r\n" {
			return
		}
	}
}

func TestChaosFrozenGarbageAndDeadBackendsUnderLoad(t *testing.T) {
	good1, good2 := newBackend(t, "good1", nil), newBackend(t, "good2", nil)
	frozenURL, frozen := processBackend(t, "frozen")
	garbage := rawBackend(t, func(c net.Conn) {
		readRequestHead(c)
		io.WriteString(c, "this is not HTTP at all\r\n\r\n")
	})
	dead := deadURL(t)
	start(t, map[string]any{
		"backends": []map[string]any{{"url": good1.URL}, {"url": frozenURL}, {"url": garbage},
			{"url": dead}, {"url": good2.URL}},
		"timeout":         "300ms",
		"retries":         map[string]any{"count": 4},
		"circuit_breaker": map[string]any{"failure_threshold": 3, "base_backoff": "500ms", "max_backoff": "2s"},
	})
	// Everything serves, then the frozen backend stops answering (SIGSTOP):
	// its connections hang, the timeout cuts them, the GET is retried.
	if err := frozen.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	l := startLoad(4, 3000)
	time.Sleep(2 * time.Second)
	l.finish()
	if f := l.failed.Load(); f != 0 {
		t.Fatalf("%d of %d GETs failed with a frozen, a garbage-speaking and a dead backend; retries should hide them all: %v",
			f, l.sent.Load(), l.failures)
	}
	t.Logf("%d GETs, 0 failed", l.sent.Load())
	if good1.hits.Load()+good2.hits.Load() < l.sent.Load() {
		t.Fatalf("the healthy backends served %d of %d", good1.hits.Load()+good2.hits.Load(), l.sent.Load())
	}
}

func TestChaosNonIdempotentGets502NotADuplicate(t *testing.T) {
	var seen = make(chan string, 10)
	garbage := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		seen <- string(body)
		io.WriteString(c, "garbage\r\n\r\n")
	})
	good := newBackend(t, "good", nil)
	start(t, map[string]any{"backends": []map[string]any{{"url": garbage}, {"url": good.URL}}, "retries": map[string]any{"count": 3}})
	resp, err := newClient().Post(proxyURL+"/order", "text/plain", strings.NewReader("buy 1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("POST after a garbage answer: %d, want 502", resp.StatusCode)
	}
	if good.hits.Load() != 0 || len(seen) != 1 {
		t.Fatalf("the POST reached %d garbage and %d good backends; it must be sent once", len(seen), good.hits.Load())
	}
}

func TestChaosBackendClosingMidResponseAbortsTheClient(t *testing.T) {
	for _, tc := range []struct{ name, head string }{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cut := rawBackend(t, func(c net.Conn) {
				readRequestHead(c)
				io.WriteString(c, tc.head)
				io.WriteString(c, strings.Repeat("x", 1024))
				// and close: the body is cut short
			})
			start(t, map[string]any{"backends": []map[string]any{{"url": cut}}, "timeout": "2s"})
			begin := time.Now()
			// The client must see an error: either no response at all (the
			// head was still buffered when the connection was aborted) or
			// a body that ends early.
			resp, err := newClient().Get(proxyURL + "/")
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatal("a body the backend cut short reached the client as if complete")
			}
			if d := time.Since(begin); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}
