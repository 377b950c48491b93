package caddytest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// The adversarial backend and the raw client of the attack_*_test.go
// suite. The backend is a raw TCP HTTP/1.1 server whose every answer is
// scripted per request, byte for byte, so it can misframe responses the way
// a broken or hostile backend does; it logs every byte it receives on every
// connection, so a test can tell on which connection a request arrived and
// exactly what the proxy sent.

// advRequest is one request the adversarial backend read.
type advRequest struct {
	Conn   int // connection number, from 0 in order of accept
	Seq    int // position of the request on its connection, from 0
	Method string
	Target string // the request-target exactly as sent
	Host   string
	Header http.Header
	Body   []byte
	// sent is closed once the reply is all written (Idle too) and the
	// proxy's end has acknowledged every byte of it, or once the backend
	// gave up on the request: then the bytes are there to be read, and a
	// test that waits for it waits for an event, not for a guess of time.
	sent chan struct{}
	// replyErr is the write error that ended the reply, if one did; set
	// before sent is closed.
	replyErr error
}

// waitSent waits (up to 10 s, a bound for a loaded machine, not a guess of
// how long it takes) until the backend's reply to r is all on the proxy's
// side of the connection.
func (r *advRequest) waitSent(t *testing.T) {
	t.Helper()
	select {
	case <-r.sent:
	case <-time.After(10 * time.Second):
		t.Fatalf("the backend's reply to %s %s was not all acknowledged within 10s", r.Method, r.Target)
	}
}

// advReply is what the adversarial backend does after reading a request.
type advReply struct {
	// Raw is written as is once the request (and its body) was read.
	Raw string
	// Idle is written after Raw, in a write of its own: at once, or,
	// with IdleGate, once IdleGate is closed (while the connection idles
	// in the proxy's pool, when the test closes it after the proxy is done
	// with the exchange).
	Idle     string
	IdleGate <-chan struct{}
	// Close closes the connection after Raw.
	Close bool
	// Split, if within Raw, writes Raw in two parts: Raw[:Split], and the
	// rest once the proxy has acknowledged the first and 2 ms more have
	// passed, so that the proxy most likely reads the first alone. (When
	// it does not, under load, it reads the two at once: the case is then
	// the unsplit one, weaker but never wrongly failed.)
	Split int
}

// advConn is one accepted connection and everything read from it.
type advConn struct {
	nc   net.Conn
	mu   sync.Mutex
	raw  bytes.Buffer
	reqs []*advRequest
}

func (c *advConn) Write(p []byte) (int, error) { // logs bytes read from nc
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raw.Write(p)
}

// advBackend is the adversarial backend. Its script answers each request;
// with a nil script (or a nil-returning one) it answers honestly.
type advBackend struct {
	URL string // http://127.0.0.1:port
	ln  net.Listener

	mu     sync.Mutex
	conns  []*advConn
	script func(*advRequest) *advReply
	wg     sync.WaitGroup
	done   chan struct{} // closed when the backend stops
}

// newAdvBackend starts an adversarial backend on loopback, stopped with the
// test.
func newAdvBackend(t *testing.T) *advBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveAdv(t, ln, "http://")
}

// newAdvTLSBackend is newAdvBackend over TLS (HTTP/1.1 only, by ALPN),
// with a certificate of ca's for 127.0.0.1: the proxy reaches it through
// Caddy's transport.
func newAdvTLSBackend(t *testing.T, ca *testCA) *advBackend {
	t.Helper()
	cert, _, _ := ca.issue(t, false, nil, net.ParseIP("127.0.0.1"))
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert},
		NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return serveAdv(t, ln, "https://")
}

// serveAdv serves an adversarial backend on ln, stopped with the test.
func serveAdv(t *testing.T, ln net.Listener, scheme string) *advBackend {
	b := &advBackend{ln: ln, URL: scheme + ln.Addr().String(), done: make(chan struct{})}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

// honestReply answers with the request's target in the body, so a client
// can tell its own answer from another's.
func honestReply(r *advRequest) *advReply {
	body := "path:" + r.Target
	if r.Method == http.MethodHead {
		return &advReply{Raw: fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))}
	}
	return &advReply{Raw: fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)}
}

// setScript replaces the script; nil answers every request honestly.
func (b *advBackend) setScript(f func(*advRequest) *advReply) {
	b.mu.Lock()
	b.script = f
	b.mu.Unlock()
}

func (b *advBackend) accept() {
	defer b.wg.Done()
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			return
		}
		c := &advConn{nc: nc}
		b.mu.Lock()
		id := len(b.conns)
		b.conns = append(b.conns, c)
		b.mu.Unlock()
		b.wg.Add(1)
		go b.serve(id, c)
	}
}

func (b *advBackend) serve(id int, c *advConn) {
	defer b.wg.Done()
	defer c.nc.Close()
	br := bufio.NewReader(io.TeeReader(c.nc, c))
	var idle sync.WaitGroup
	defer idle.Wait()
	for seq := 0; ; seq++ {
		c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		ar := &advRequest{Conn: id, Seq: seq, Method: req.Method, Target: req.RequestURI,
			Host: req.Host, Header: req.Header, Body: body, sent: make(chan struct{})}
		c.mu.Lock()
		c.reqs = append(c.reqs, ar)
		c.mu.Unlock()
		if err != nil {
			close(ar.sent)
			return // a body that does not parse: nothing sane to answer
		}
		b.mu.Lock()
		script := b.script
		b.mu.Unlock()
		var rep *advReply
		if script != nil {
			rep = script(ar)
		}
		if rep == nil {
			rep = honestReply(ar)
		}
		if !b.reply(c, rep, ar, &idle) || rep.Close {
			return
		}
	}
}

// reply writes rep, the answer to ar, on c and reports whether the
// connection may read on. ar.sent is closed once all of rep is written and
// acknowledged; with rep.IdleGate, that is after its Idle bytes, written
// by a goroutine of idle's.
func (b *advBackend) reply(c *advConn, rep *advReply, ar *advRequest, idle *sync.WaitGroup) bool {
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	write := func(s string) bool {
		_, err := io.WriteString(c.nc, s)
		if err != nil {
			ar.replyErr = err
		}
		return err == nil && awaitAcked(c.nc, 10*time.Second)
	}
	raw := rep.Raw
	if rep.Split > 0 && rep.Split < len(raw) {
		if !write(raw[:rep.Split]) {
			close(ar.sent)
			return false
		}
		time.Sleep(2 * time.Millisecond) // see Split: strength, not outcome
		raw = raw[rep.Split:]
	}
	if !write(raw) {
		close(ar.sent)
		return false
	}
	switch {
	case rep.Idle == "":
		close(ar.sent)
	case rep.IdleGate == nil:
		write(rep.Idle)
		close(ar.sent)
	default:
		idle.Add(1)
		go func() {
			defer idle.Done()
			defer close(ar.sent)
			select {
			case <-rep.IdleGate:
				write(rep.Idle)
			case <-b.done:
			}
		}()
	}
	return true
}

func (b *advBackend) close() {
	close(b.done)
	b.ln.Close()
	b.mu.Lock()
	for _, c := range b.conns {
		c.nc.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// requests returns every request read so far, in order of connection and
// then of arrival.
func (b *advBackend) requests() []*advRequest {
	b.mu.Lock()
	conns := append([]*advConn(nil), b.conns...)
	b.mu.Unlock()
	var out []*advRequest
	for _, c := range conns {
		c.mu.Lock()
		out = append(out, c.reqs...)
		c.mu.Unlock()
	}
	return out
}

// received returns every byte read on every connection so far.
func (b *advBackend) received() string {
	b.mu.Lock()
	conns := append([]*advConn(nil), b.conns...)
	b.mu.Unlock()
	var sb strings.Builder
	for _, c := range conns {
		c.mu.Lock()
		sb.Write(c.raw.Bytes())
		c.mu.Unlock()
	}
	return sb.String()
}

// find returns the requests whose target is target.
func (b *advBackend) find(target string) []*advRequest {
	var out []*advRequest
	for _, r := range b.requests() {
		if r.Target == target {
			out = append(out, r)
		}
	}
	return out
}

// rawResponse is one response read by rawDo.
type rawResponse struct {
	Line   string // the status line without CRLF: "HTTP/1.1 200 OK"
	Status int
	Header http.Header
	Body   string
}

// rawDo dials addr, writes raw exactly as given and reads up to n
// responses (fewer if the connection closes or 5s pass); method tells the
// reader which responses have no body (HEAD).
func rawDo(t *testing.T, addr, method, raw string, n int) []rawResponse {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return nil
	}
	br := bufio.NewReader(c)
	var out []rawResponse
	for range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			break
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, rawResponse{resp.Proto + " " + resp.Status, resp.StatusCode, resp.Header, string(body)})
	}
	return out
}

// rawGet sends one raw request to the proxy and returns its answer (status
// 0 when the connection closed without one).
func rawGet(t *testing.T, raw string) rawResponse {
	t.Helper()
	method, _, _ := strings.Cut(raw, " ")
	if rs := rawDo(t, proxyAddr, method, raw, 1); len(rs) > 0 {
		return rs[0]
	}
	return rawResponse{}
}

// startServers loads a Caddy config with the given HTTP servers (name ->
// server JSON object) and returns the tester.
func startServers(t *testing.T, servers map[string]any) *caddytest.Tester {
	t.Helper()
	return startConfig(t, map[string]any{"servers": servers})
}

// startConfig loads a Caddy config whose http app is httpApp.
func startConfig(t *testing.T, httpApp map[string]any, apps ...map[string]any) *caddytest.Tester {
	t.Helper()
	return startConfigLogging(t, nil, httpApp, apps...)
}

// startConfigLogging is startConfig with Caddy's logging config logging
// (nil: the default log at ERROR).
func startConfigLogging(t *testing.T, logging, httpApp map[string]any, apps ...map[string]any) *caddytest.Tester {
	t.Helper()
	if logging == nil {
		logging = map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}}
	}
	all := map[string]any{"http": httpApp}
	for _, a := range apps {
		for k, v := range a {
			all[k] = v
		}
	}
	cfg, err := json.Marshal(map[string]any{
		"admin":   map[string]any{"listen": "localhost:2999"},
		"logging": logging,
		"apps":    all,
	})
	if err != nil {
		t.Fatal(err)
	}
	tester := caddytest.NewTester(t)
	tester.InitServer(string(cfg), "json")
	loaded(t)
	return tester
}

// plainServer is a server JSON object listening on addr, without automatic
// HTTPS, whose routes are routes.
func plainServer(addr string, routes ...map[string]any) map[string]any {
	return map[string]any{
		"listen":          []string{addr},
		"automatic_https": map[string]any{"disable": true},
		"routes":          routes,
	}
}

// spRoute is a route whose handlers are pre (if any) and then smartproxy
// with config h; hosts, when given, match the request's Host.
func spRoute(h map[string]any, hosts []string, pre ...map[string]any) map[string]any {
	h["handler"] = "smartproxy"
	r := map[string]any{"handle": append(pre, h)}
	if len(hosts) > 0 {
		r["match"] = []map[string]any{{"host": hosts}}
	}
	return r
}

// purge posts a purge request to the admin API and returns how many
// entries it removed.
func purge(t *testing.T, body string) int {
	t.Helper()
	resp, err := http.Post("http://localhost:2999/smartproxy/cache/purge", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Purged int }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("purge %s: status %d, %v", body, resp.StatusCode, err)
	}
	return out.Purged
}

// readBody reads and closes resp's body.
func readBody(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// newH2CBackend starts a backend that speaks HTTP/2 without TLS (h2c) and
// answers with its name; its URL has the h2c scheme smartproxy takes.
func newH2CBackend(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%s %s", name, r.Proto)
	}))
	// A small header limit (advertised in its SETTINGS), so that a request
	// Caddy accepts can be too large for it.
	s.Config.MaxHeaderBytes = 16 << 10
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return "h2c://" + s.Listener.Addr().String()
}
