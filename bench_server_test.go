package smartproxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-smartproxy/smartproxy/internal/gcfloor"
)

// BenchmarkServer measures what the server under test spends per request
// the way run.sh sees it, minus the sockets: a real Caddy config (its
// HTTP server, listener, handler chain and net/http's response writing)
// is fed pipelined "GET /" requests through in-memory connections that a
// listener wrapper hands to Caddy's own accept loop, and every response
// is discarded as it is written. cpu-ns/op is the process's CPU time per
// request (the backend is idle after the cache's one miss).
//
// Each scenario alone gives its allocations; "interleaved" runs them all
// as servers of one config and alternates between them every 1,000
// requests, so that a busy machine slows each alike, and reports each
// one's CPU per request and its ratio to respond's (x-respond) — the
// A/B figure to read. respond is run.sh's static_response;
// respond_hit_fields the same with the fields a hit adds (Age,
// Cache-Status, a fixed Date: what they cost Caddy and net/http
// together, told apart from what the handlers cost). Run:
//
//	go test -run '^$' -bench Server/interleaved -benchtime 200000x -count 5 .
func BenchmarkServer(b *testing.B) {
	// As cmd/smartproxy's main does for every scenario of run.sh: without
	// it static_response would run under GOGC=100 until the first
	// smartproxy handler's Provision starts the floor.
	if _, err := gcfloor.Ensure(os.Getenv); err != nil {
		b.Fatal(err)
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Cache-Control"] = []string{"public, max-age=300"}
		h["Content-Type"] = []string{"application/octet-stream"}
		h["Content-Length"] = []string{"1024"}
		io.WriteString(w, body1K)
	}))
	b.Cleanup(backend.Close)
	scenarios := []struct{ name, handler string }{
		{"respond", `{"handler":"static_response","status_code":200,"headers":{"Cache-Control":["public, max-age=300"],` +
			`"Content-Type":["application/octet-stream"]},"body":"` + body1K + `"}`},
		{"respond_hit_fields", `{"handler":"static_response","status_code":200,"headers":{"Cache-Control":["public, max-age=300"],` +
			`"Content-Type":["application/octet-stream"],"Age":["0"],"Cache-Status":["smartproxy; hit"],` +
			`"Date":["Tue, 01 Dec 2026 14:00:00 GMT"]},"body":"` + body1K + `"}`},
		{"smartproxy_cache_hit", `{"handler":"smartproxy","backends":[{"url":"` + backend.URL + `"}],` +
			`"cache":{"max_size":1000,"ttl":"300s"}}`},
	}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			l := loadPipeServers(b, []string{sc.handler})[0]
			b.ReportAllocs()
			cpu0 := processCPU(b)
			b.ResetTimer()
			l.serve(b, b.N)
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
	for _, conns := range []int{1, 8} {
		name := "interleaved"
		if conns > 1 {
			name = fmt.Sprintf("interleaved_conns%d", conns)
		}
		b.Run(name, func(b *testing.B) { benchInterleaved(b, scenarios, conns) })
	}
}

// benchInterleaved is BenchmarkServer/interleaved: the scenarios' servers in
// one config, conns connections at a time.
func benchInterleaved(b *testing.B, scenarios []struct{ name, handler string }, conns int) {
	{
		handlers := make([]string, len(scenarios))
		for i, sc := range scenarios {
			handlers[i] = sc.handler
		}
		ls := loadPipeServers(b, handlers)
		const chunk = 1000
		cpu := make([]time.Duration, len(ls))
		b.ResetTimer()
		for done := 0; done < b.N; done += chunk {
			n := min(chunk, b.N-done)
			for i, l := range ls {
				c0 := processCPU(b)
				l.serveConns(b, n, conns)
				cpu[i] += processCPU(b) - c0
			}
		}
		b.StopTimer()
		for i, sc := range scenarios {
			b.ReportMetric(float64(cpu[i])/float64(b.N), sc.name+"-cpu-ns/op")
			if i > 0 {
				b.ReportMetric(float64(cpu[i])/float64(cpu[0]), sc.name+"-x-respond")
			}
		}
		b.ReportMetric(0, "ns/op")
	}
}

// processCPU is the CPU time the process has used (user and system, all
// threads): wall time per request says little on a shared machine.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pipeListeners finds a config's pipe listener by the id in its JSON.
var pipeListeners sync.Map // id -> *pipeListener

func init() { caddy.RegisterModule(pipeWrapper{}) }

// pipeWrapper is the listener wrapper (caddy.listeners.smartproxy_bench_pipe)
// that hands BenchmarkServer's in-memory connections to Caddy.
type pipeWrapper struct {
	ID string `json:"id"`
}

func (pipeWrapper) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "caddy.listeners.smartproxy_bench_pipe", New: func() caddy.Module { return new(pipeWrapper) }}
}

func (w *pipeWrapper) WrapListener(inner net.Listener) net.Listener {
	l := &pipeListener{Listener: inner, conns: make(chan net.Conn), closed: make(chan struct{})}
	pipeListeners.Store(w.ID, l)
	return l
}

// pipeListener accepts only the connections serve gives it.
type pipeListener struct {
	net.Listener
	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// serve sends n pipelined requests on one connection, waits for the n
// responses and closes it. It returns the first response's bytes.
func (l *pipeListener) serve(b *testing.B, n int) []byte {
	return l.serveConns(b, n, 1)
}

// serveConns is serve over k connections at once, n/k requests each (at
// least one).
func (l *pipeListener) serveConns(b *testing.B, n, k int) []byte {
	if k <= 1 {
		return l.serveOne(b, n)
	}
	var wg sync.WaitGroup
	per := max(n/k, 1)
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.serveOne(b, per)
		}()
	}
	wg.Wait()
	return nil
}

func (l *pipeListener) serveOne(b *testing.B, n int) []byte {
	c := &pipeConn{req: []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), left: n, want: n, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	select {
	case l.conns <- c:
	case <-time.After(10 * time.Second):
		b.Fatal("the server accepted no connection")
	}
	select {
	case <-c.done:
	case <-time.After(time.Duration(n)*time.Millisecond + 30*time.Second):
		b.Fatalf("%d of %d responses", c.responses(), n)
	}
	c.Close()
	return c.first
}

// loadPipeServers runs a Caddy config with one h1 server per handler,
// each answering with that handler alone (listening on 127.0.0.N, port 0,
// for Caddy; only the pipe listener's connections are served), and returns their pipe
// listeners after one request each (a cache's miss).
func loadPipeServers(b *testing.B, handlers []string) []*pipeListener {
	id := fmt.Sprintf("%s-%d", b.Name(), time.Now().UnixNano())
	servers := make([]string, len(handlers))
	for i, h := range handlers {
		servers[i] = fmt.Sprintf(`"s%d":{"listen":["127.0.0.%d:0"],"protocols":["h1"],`+
			`"listener_wrappers":[{"wrapper":"smartproxy_bench_pipe","id":"%s-%d"}],`+
			`"automatic_https":{"disable":true},"routes":[{"handle":[%s]}]}`, i, i+1, id, i, h)
	}
	cfg := `{"admin":{"disabled":true,"config":{"persist":false}},"logging":{"logs":{"default":{"level":"ERROR"}}},
		"apps":{"http":{"servers":{` + strings.Join(servers, ",") + `}}}}`
	if err := caddy.Load([]byte(cfg), true); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = caddy.Load([]byte(`{"admin":{"disabled":true,"config":{"persist":false}}}`), true) })
	ls := make([]*pipeListener, len(handlers))
	for i := range handlers {
		v, ok := pipeListeners.Load(fmt.Sprintf("%s-%d", id, i))
		if !ok {
			b.Fatal("the listener wrapper was not used")
		}
		ls[i] = v.(*pipeListener)
		if got := ls[i].serve(b, 1); !bytes.Contains(got, []byte("\r\n\r\n"+body1K)) {
			b.Fatalf("server %d: the first response is not the body:\n%.300s", i, got)
		}
	}
	return ls
}

// pipeConn is one client connection held in memory: Read yields left
// copies of req, then blocks as an idle client's socket does (until a
// deadline in the past or Close); Write counts the responses (one Write
// each: net/http flushes a small response once) and keeps the first.
type pipeConn struct {
	req  []byte
	off  int
	left int

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{}
	isClosed bool
	n        int
	want     int
	first    []byte
	done     chan struct{}
	doneOnce sync.Once
}

func (c *pipeConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.left > 0 {
		k := 0
		for k < len(p) && c.left > 0 {
			m := copy(p[k:], c.req[c.off:])
			k += m
			if c.off += m; c.off == len(c.req) {
				c.off = 0
				c.left--
			}
		}
		c.mu.Unlock()
		return k, nil
	}
	for {
		if c.isClosed {
			c.mu.Unlock()
			return 0, io.EOF
		}
		if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
			c.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		c.mu.Unlock()
		<-c.wake
		c.mu.Lock()
	}
}

func (c *pipeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.HasPrefix(p, []byte("HTTP/1.1 ")) {
		if c.n++; c.n == 1 {
			c.first = append([]byte(nil), p...)
		}
		if c.n == c.want {
			c.doneOnce.Do(func() { close(c.done) })
		}
	}
	return len(p), nil
}

func (c *pipeConn) responses() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *pipeConn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *pipeConn) Close() error {
	c.mu.Lock()
	c.isClosed = true
	c.mu.Unlock()
	c.poke()
	return nil
}

func (c *pipeConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	c.poke()
	return nil
}

func (c *pipeConn) SetDeadline(t time.Time) error    { return c.SetReadDeadline(t) }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }
func (c *pipeConn) LocalAddr() net.Addr              { return pipeAddr("127.0.0.1:80") }
func (c *pipeConn) RemoteAddr() net.Addr             { return pipeAddr("127.0.0.1:40000") }

type pipeAddr string

func (a pipeAddr) Network() string { return "tcp" }
func (a pipeAddr) String() string  { return string(a) }

// Interface guards
var (
	_ caddy.ListenerWrapper = (*pipeWrapper)(nil)
	_ net.Conn              = (*pipeConn)(nil)
)
