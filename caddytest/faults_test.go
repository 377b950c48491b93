package caddytest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// resetListener accepts connections on addr and closes them at once: a
// backend whose process died while its address stays routable. It counts
// the connections it refused.
type resetListener struct {
	ln    net.Listener
	conns atomic.Int64
	done  chan struct{}
}

func newResetListener(t *testing.T, addr string) *resetListener {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port was just released; give the kernel a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	rl := &resetListener{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(rl.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rl.conns.Add(1)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
		}
	}()
	t.Cleanup(rl.Close)
	return rl
}

func (rl *resetListener) Close() { rl.ln.Close(); <-rl.done }

// restartBackend starts a backend answering with its name on addr.
func restartBackend(t *testing.T, name, addr string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		io.WriteString(w, name)
	}))
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			b.Listener.Close()
			b.Listener = ln
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	t.Cleanup(b.Close)
	return b
}

// load runs GETs from workers goroutines until stop is closed or max
// requests were sent, and reports the failures.
type load struct {
	sent, failed atomic.Int64
	// restartDrops counts requests a restarting Caddy server dropped before
	// any handler ran, which the load client then retried (see send).
	restartDrops atomic.Int64
	// duringReloads: the load runs across config reloads, so restart drops
	// are retried (see send); otherwise every failure counts.
	duringReloads bool
	mu            sync.Mutex
	failures      []string
	stop          chan struct{}
	stopOnce      sync.Once
	wg            sync.WaitGroup
	client        *http.Client
}

func startLoad(workers int, max int64) *load { return newLoad(workers, max, false) }

// startLoadDuringReloads is startLoad for a load that spans config reloads.
func startLoadDuringReloads(workers int, max int64) *load { return newLoad(workers, max, true) }

func newLoad(workers int, max int64, duringReloads bool) *load {
	l := &load{stop: make(chan struct{}), duringReloads: duringReloads}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	l.client = c
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				if l.sent.Add(1) > max {
					return
				}
				resp, err := l.send(c)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.failures) < 10 {
						l.failures = append(l.failures, err.Error())
					}
					l.mu.Unlock()
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return l
}

// send makes one GET of the proxy's root, retrying a restart drop (see
// getRetryingDrop) when the load spans reloads, and counts the drops.
func (l *load) send(c *http.Client) (*http.Response, error) {
	resp, dropped, err := getRetryingDrop(c, proxyURL+"/", l.duringReloads)
	if dropped {
		l.restartDrops.Add(1)
	}
	return resp, err
}

// getRetryingDrop makes one GET of url. A config reload replaces Caddy's
// server: a connection the old server accepted just as it began to shut down
// has its request read and then dropped without an answer (Go's http.Server
// returns from such a connection once shutting down), and a connection
// queued on the old listening socket is reset when that socket closes
// (SO_REUSEPORT: the new server listens on a socket of its own, and the
// kernel hands a queued connection to neither, unless
// net.ipv4.tcp_migrate_req is set). Both happen before any handler runs,
// with Caddy's own reverse_proxy just the same, and on a fresh connection,
// where Go's client does not retry by itself. Clients retry such idempotent
// requests (browsers do); with retry, so does this one, once, and only when
// not one byte of an answer arrived, so an answer the proxy cut is still an
// error. dropped reports a retried drop, for the caller to count and report.
func getRetryingDrop(c *http.Client, url string, retry bool) (resp *http.Response, dropped bool, err error) {
	for attempt := 0; ; attempt++ {
		var reused, answered atomic.Bool
		trace := &httptrace.ClientTrace{
			GotConn:              func(i httptrace.GotConnInfo) { reused.Store(i.Reused) },
			GotFirstResponseByte: func() { answered.Store(true) },
		}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url, nil)
		if err != nil {
			return nil, false, err
		}
		resp, err := c.Do(req)
		if err == nil {
			return resp, attempt > 0, nil
		}
		drop := !answered.Load() && ((!reused.Load() && errors.Is(err, io.EOF)) || errors.Is(err, syscall.ECONNRESET))
		if !drop || attempt > 0 || !retry {
			return nil, attempt > 0, fmt.Errorf("%w (connection reused %v, answer begun %v)", err, reused.Load(), answered.Load())
		}
	}
}

func (l *load) finish() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

// eventually polls cond every 20ms until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

func TestKilledBackendIsHiddenThenProbedBack(t *testing.T) {
	b1, b2, b3 := newBackend(t, "b1", nil), newBackend(t, "b2", nil), newBackend(t, "b3", nil)
	start(t, map[string]any{
		"backends":        backends(b1, b2, b3),
		"circuit_breaker": map[string]any{"failure_threshold": 2, "base_backoff": "300ms", "max_backoff": "600ms"},
		"retries":         map[string]any{"count": 2},
	})
	l := startLoad(4, 20000)
	defer l.finish()
	if !eventually(5*time.Second, func() bool { return b2.hits.Load() > 20 }) {
		t.Fatal("b2 got no traffic")
	}
	// Kill b2: its address now refuses every connection.
	addr := b2.Listener.Addr().String()
	b2.Close()
	dead := newResetListener(t, addr)
	// While it is dead, requests are retried elsewhere, its breaker opens,
	// and it is left alone but for a probe per backoff period.
	time.Sleep(300 * time.Millisecond)
	before := dead.conns.Load()
	sentBefore := l.sent.Load()
	time.Sleep(1500 * time.Millisecond)
	probes := dead.conns.Load() - before
	sent := l.sent.Load() - sentBefore
	t.Logf("while dead: %d connections to it during %d requests", probes, sent)
	if probes > 8 || sent < 100 {
		t.Errorf("dead backend got %d connections out of %d requests in 1.5s; its breaker should leave it alone but for probes", probes, sent)
	}
	// Restart it: a half-open probe succeeds and it is back in rotation.
	dead.Close()
	back := restartBackend(t, "b2", addr)
	if !eventually(5*time.Second, func() bool { return back.hits.Load() > 20 }) {
		t.Fatalf("restarted backend got %d requests; it should be probed and back in rotation", back.hits.Load())
	}
	l.finish()
	if f := l.failed.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed; a retry should hide a dead backend: %v", f, l.sent.Load(), l.failures)
	}
}

func TestBackendAnswering500sTripsItsBreaker(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	good := newBackend(t, "good", nil)
	start(t, map[string]any{
		"backends":        backends(bad, good),
		"circuit_breaker": map[string]any{"failure_threshold": 3, "base_backoff": "30s", "max_backoff": "60s"},
	})
	c := newClient()
	codes := map[int]int{}
	for range 20 {
		code, _ := get(t, c, "/")
		codes[code]++
	}
	if n := bad.hits.Load(); n != 3 {
		t.Fatalf("the 500-answering backend got %d requests, want exactly 3 (failure_threshold) before its breaker opened", n)
	}
	if codes[500] != 3 || codes[200] != 17 {
		t.Fatalf("status counts %v, want 3 x 500 then 17 x 200", codes)
	}
}

func TestHangingBackendIsCutByTimeoutAndTripped(t *testing.T) {
	release := make(chan struct{})
	hang := newBackend(t, "hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	})
	defer close(release)
	good := newBackend(t, "good", nil)
	start(t, map[string]any{
		"backends":        backends(hang, good),
		"timeout":         "200ms",
		"circuit_breaker": map[string]any{"failure_threshold": 2, "base_backoff": "30s", "max_backoff": "60s"},
	})
	c := newClient()
	for i := range 10 {
		begin := time.Now()
		code, body := get(t, c, "/")
		if code != 200 || body != "good" {
			t.Fatalf("request %d: %d %q; a timed-out GET is retried on the healthy backend", i, code, body)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Fatalf("request %d took %v with a 200ms timeout", i, d)
		}
	}
	if n := hang.hits.Load(); n != 2 {
		t.Fatalf("the hanging backend got %d requests, want 2 (failure_threshold) before its breaker opened", n)
	}
}

func TestNonIdempotentRequestIsNotRetriedAfterSending(t *testing.T) {
	var posts atomic.Int64
	flaky := newBackend(t, "flaky", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "flaky got %q", body)
	})
	good := newBackend(t, "good", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posts.Add(1)
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "good got %q", body)
	})
	start(t, map[string]any{"backends": backends(flaky, good), "retries": map[string]any{"count": 1}})
	c := newClient()
	codes := map[int]int{}
	for range 4 {
		resp, err := c.Post(proxyURL+"/", "text/plain", strings.NewReader("order #1"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if posts.Load() != 4 || codes[502] != 2 || codes[200] != 2 {
		t.Fatalf("4 POSTs: backends saw %d, statuses %v; a POST is never sent twice (want 2 x 502, 2 x 200)", posts.Load(), codes)
	}
	// A PUT (idempotent) with a small body is replayed on the other backend.
	for i := range 4 {
		req, _ := http.NewRequest(http.MethodPut, proxyURL+"/", strings.NewReader("put body"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != `good got "put body"` {
			t.Fatalf("PUT %d: %d %q, want the replayed body on the good backend", i, resp.StatusCode, body)
		}
	}
	// So is a POST with an Idempotency-Key.
	req, _ := http.NewRequest(http.MethodPost, proxyURL+"/", strings.NewReader("keyed"))
	req.Header.Set("Idempotency-Key", "abc")
	for range 2 {
		req.Body = io.NopCloser(strings.NewReader("keyed"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST with Idempotency-Key: %d, want it retried to 200", resp.StatusCode)
		}
	}
}

func TestActiveHealthChecksTakeBackendOutAndBack(t *testing.T) {
	var sick atomic.Bool
	b1 := newBackend(t, "b1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && sick.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "b1")
	})
	b2 := newBackend(t, "b2", nil)
	start(t, map[string]any{
		"backends": backends(b1, b2),
		"health_check": map[string]any{"interval": "100ms", "timeout": "50ms", "path": "/health",
			"healthy_threshold": 1, "unhealthy_threshold": 2},
	})
	c := newClient()
	sick.Store(true)
	onlyB2 := func() bool {
		for range 6 {
			if _, body := get(t, c, "/"); body != "b2" {
				return false
			}
		}
		return true
	}
	if !eventually(3*time.Second, onlyB2) {
		t.Fatal("a backend failing its health check still gets traffic")
	}
	sick.Store(false)
	if !eventually(3*time.Second, func() bool { _, body := get(t, c, "/"); return body == "b1" }) {
		t.Fatal("a recovered backend did not come back into rotation")
	}
}

func TestAllBackendsUnhealthyIs503(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	start(t, map[string]any{
		"backends":     backends(b),
		"health_check": map[string]any{"interval": "1h", "timeout": "1s", "initial_state": "unhealthy"},
	})
	if code, _ := get(t, newClient(), "/"); code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 when no backend is healthy", code)
	}
	if n := b.hits.Load(); n != 0 {
		t.Fatalf("an unhealthy backend got %d requests", n)
	}
}

func TestPassiveHealthChecks(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	good := newBackend(t, "good", nil)
	start(t, map[string]any{
		"backends": backends(bad, good),
		"retries":  map[string]any{"count": 0},
		"health_check": map[string]any{"active": false, "passive_failures": 2,
			"unhealthy_statuses": []int{503}, "passive_cooldown": "1h"},
	})
	c := newClient()
	for range 12 {
		get(t, c, "/")
	}
	if n := bad.hits.Load(); n != 2 {
		t.Fatalf("the backend answering 503 got %d requests, want 2 (passive_failures) before being taken out", n)
	}
}

func TestHealthStateSurvivesReloadAndCheckersDoNotLeak(t *testing.T) {
	var sick atomic.Bool
	sick.Store(true)
	b1 := newBackend(t, "b1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && sick.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "b1")
	})
	b2 := newBackend(t, "b2", nil)
	cfg := func(timeout string) map[string]any {
		return map[string]any{
			"backends": backends(b1, b2),
			"timeout":  timeout,
			// Two misses of 300 ms each before a backend is out: a loaded
			// machine's one slow probe must not take the healthy b2 out.
			"health_check": map[string]any{"interval": "300ms", "timeout": "300ms",
				"healthy_threshold": 1, "unhealthy_threshold": 2},
			"circuit_breaker": map[string]any{},
		}
	}
	start(t, cfg("10s"))
	c := newClient()
	if !eventually(3*time.Second, func() bool { _, body := get(t, c, "/"); return body == "b2" && b1.hits.Load() > 0 }) {
		t.Fatal("b1 never checked")
	}
	onlyB2 := func() error {
		for range 6 {
			if code, body := get(t, c, "/"); body != "b2" {
				return fmt.Errorf("answered %d %q, want b2's answer: a backend known to be unhealthy got a request, or b2 was taken out", code, body)
			}
		}
		return nil
	}
	if !eventually(3*time.Second, func() bool { return onlyB2() == nil }) {
		t.Fatal("b1 not taken out")
	}
	base := runtime.NumGoroutine()
	for i := range 50 {
		start(t, cfg(fmt.Sprintf("%ds", 10+i%2)))
		// Right after each reload the unhealthy backend is still out.
		if err := onlyB2(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	if !eventually(5*time.Second, func() bool { return runtime.NumGoroutine() <= base+5 }) {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("goroutines: %d before 50 reloads, %d after; checkers leak\n%s", base, runtime.NumGoroutine(), buf[:n])
	}
	t.Logf("goroutines: %d before 50 reloads, %d after", base, runtime.NumGoroutine())
	sick.Store(false)
}

func TestBreakerModuleForCaddysReverseProxy(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	tester := newTesterJSON(t, fmt.Sprintf(`{"handler": "reverse_proxy",
		"upstreams": [{"dial": %q}],
		"circuit_breaker": {"type": "smartproxy", "failure_threshold": 2, "base_backoff": "30s", "max_backoff": "60s"}}`,
		bad.Listener.Addr().String()))
	_ = tester
	c := newClient()
	codes := map[int]int{}
	for range 6 {
		code, _ := get(t, c, "/")
		codes[code]++
	}
	if bad.hits.Load() != 2 || codes[500] != 2 || codes[503] != 4 {
		t.Fatalf("backend hits %d, statuses %v; want 2 x 500, then the open breaker leaves no upstream (503)", bad.hits.Load(), codes)
	}
}
