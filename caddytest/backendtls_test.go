package caddytest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"golang.org/x/net/websocket"
)

// https backends: the TLS handshake is bounded like the dial, and a
// connection that carried a hostile response is never used again.

// TestTLSHandshakeTimeout: the backend accepts TCP and never answers the
// handshake. The request fails within about the dial timeout (the route's
// 2 s timeout), the failure counts against the backend, and the proxy lets
// go of the connection.
func TestTLSHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var open, accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			open.Add(1)
			go func() {
				defer open.Add(-1)
				defer c.Close()
				io.Copy(io.Discard, c) // the ClientHello, then nothing until the proxy hangs up
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	url := "https://" + ln.Addr().String()
	start(t, map[string]any{
		"timeout":         "2s",
		"backends":        []map[string]any{{"url": url}},
		"circuit_breaker": map[string]any{"failure_threshold": 1, "base_backoff": "1m"},
	})
	client := &http.Client{Timeout: 15 * time.Second}
	begin := time.Now()
	resp, err := client.Get(proxyURL + "/")
	took := time.Since(begin)
	if err != nil {
		t.Fatalf("no answer after %v: %v", took, err)
	}
	resp.Body.Close()
	// The handshake is part of the dial: a backend that never completes
	// it was never reached, so the request gets the unreachable status.
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 (the backend was never reached)", resp.StatusCode)
	}
	if took < 1500*time.Millisecond || took > 4*time.Second {
		t.Fatalf("answered %d after %v, want about the 2 s dial timeout", resp.StatusCode, took)
	}
	if accepted.Load() == 0 {
		t.Fatal("the proxy never connected to the backend")
	}
	if !eventually(3*time.Second, func() bool { return open.Load() == 0 }) {
		t.Fatalf("%d backend connections still open after the failed handshake", open.Load())
	}
	st := getStatus(t)
	if len(st.Routes) != 1 || len(st.Routes[0].Backends) != 1 {
		t.Fatalf("status: %+v", st)
	}
	b := st.Routes[0].Backends[0]
	if b.Failures != 1 || b.Breaker == nil || b.Breaker.State != "open" {
		t.Fatalf("the failed handshake did not count against the backend: failures %d, breaker %+v", b.Failures, b.Breaker)
	}
	t.Logf("%d after %v; backend failures %d, breaker %s", resp.StatusCode, took, b.Failures, b.Breaker.State)
}

// testCert makes a self-signed certificate for 127.0.0.1 and writes it to
// a PEM file that can serve as the only trusted root.
func testCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smartproxy test backend"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

// injected is a whole fake response hidden where a response ends.
const injected = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Injected: yes\r\n\r\nINJECTED"

// hostileTLSBackend is a raw HTTP/1.1-over-TLS server. It logs every byte
// each connection receives, and answers the hostile paths with a response
// followed by (or carrying) injected.
type hostileTLSBackend struct {
	ln   net.Listener
	mu   sync.Mutex
	logs []*bytes.Buffer // per connection, in accept order
}

func newHostileTLSBackend(t *testing.T, cert tls.Certificate) *hostileTLSBackend {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	hb := &hostileTLSBackend{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			log := new(bytes.Buffer)
			hb.mu.Lock()
			hb.logs = append(hb.logs, log)
			hb.mu.Unlock()
			go hb.serve(c, log)
		}
	}()
	return hb
}

// loggingReader records what it reads.
type loggingReader struct {
	r   io.Reader
	mu  *sync.Mutex
	log *bytes.Buffer
}

func (l loggingReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.mu.Lock()
	l.log.Write(p[:n])
	l.mu.Unlock()
	return n, err
}

func (hb *hostileTLSBackend) serve(c net.Conn, log *bytes.Buffer) {
	defer c.Close()
	br := bufio.NewReader(loggingReader{c, &hb.mu, log})
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		var out string
		switch req.URL.Path {
		case "/long": // the body runs past Content-Length
			out = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + injected
		case "/after": // bytes after a complete chunked response
			out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + injected
		case "/head": // a body after the answer to HEAD
			out = fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(injected), injected)
		default:
			out = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"
		}
		// One write: the hostile bytes are there when the response is.
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
	}
}

// requestsPerConn returns, for each connection, the request lines it got.
func (hb *hostileTLSBackend) requestsPerConn() [][]string {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	out := make([][]string, len(hb.logs))
	for i, log := range hb.logs {
		for _, line := range strings.Split(log.String(), "\r\n") {
			if strings.HasSuffix(line, " HTTP/1.1") {
				out[i] = append(out[i], line)
			}
		}
	}
	return out
}

// proxyToHostileTLS starts a hostile TLS backend and a Caddy process (on
// the returned address) in front of it that trusts only the backend's
// certificate (SSL_CERT_FILE) and never retries.
func proxyToHostileTLS(t *testing.T) (*hostileTLSBackend, string) {
	t.Helper()
	cert, caFile := testCert(t)
	hb := newHostileTLSBackend(t, cert)
	t.Setenv("SSL_CERT_FILE", caFile)
	addr := freeAddr(t)
	caddyProcess(t, addr, fmt.Sprintf(`{"handler": "smartproxy", "timeout": "5s", "retries": {"count": 0},
		"backends": [{"url": "https://%s"}]}`, hb.ln.Addr()))
	return hb, addr
}

// TestTLSBackendHostileResponsesAreNotReused: after a response that hides
// another (a body past Content-Length, bytes after a chunked body, a body
// after the answer to HEAD), the next request must never be answered with
// the hidden bytes, and the connection that carried them must carry no
// further request.
func TestTLSBackendHostileResponsesAreNotReused(t *testing.T) {
	hb, addr := proxyToHostileTLS(t)
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, path string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	// The readiness probe of caddyProcess reached the backend: it works.
	hostile := []struct{ method, path string }{{"GET", "/long"}, {"GET", "/after"}, {"HEAD", "/head"}}
	const rounds = 20
	for round := range rounds {
		for _, h := range hostile {
			if code, _, body := do(h.method, h.path); code != 200 || strings.Contains(body, "INJECTED") {
				t.Fatalf("round %d %s %s: %d %q", round, h.method, h.path, code, body)
			}
			code, hdr, body := do("GET", "/next")
			if code != 200 || body != "next" || hdr.Get("X-Injected") != "" {
				t.Fatalf("round %d: the request after %s %s got %d %q (X-Injected %q): a poisoned connection was reused",
					round, h.method, h.path, code, body, hdr.Get("X-Injected"))
			}
		}
	}
	// No connection carried anything after a hostile exchange.
	conns := hb.requestsPerConn()
	hostileSeen := 0
	for i, reqs := range conns {
		for j, line := range reqs {
			if strings.Contains(line, " /next ") || strings.Contains(line, " /ready ") {
				continue
			}
			hostileSeen++
			if j != len(reqs)-1 {
				t.Errorf("connection %d carried %q after the hostile %q", i, reqs[j+1:], line)
			}
		}
	}
	if hostileSeen != rounds*len(hostile) {
		t.Fatalf("the backend saw %d hostile requests, want %d", hostileSeen, rounds*len(hostile))
	}
	t.Logf("%d connections for %d hostile and %d plain requests", len(conns), hostileSeen, rounds*len(hostile))
}

// TestTLSBackendHostileResponsesUnderConcurrency: the same, with clients
// in parallel, so a connection freed by a hostile exchange is wanted by
// another request at once.
func TestTLSBackendHostileResponsesUnderConcurrency(t *testing.T) {
	_, addr := proxyToHostileTLS(t)
	var poisoned, sent atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(5 * time.Second)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; i < 300 && time.Now().Before(deadline); i++ {
				method, path := "GET", "/next"
				switch (w + i) % 4 {
				case 1:
					path = "/long"
				case 2:
					path = "/after"
				case 3:
					method, path = "HEAD", "/head"
				}
				req, _ := http.NewRequest(method, "http://"+addr+path, nil)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				sent.Add(1)
				if resp.Header.Get("X-Injected") != "" || strings.Contains(string(body), "INJECTED") {
					poisoned.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := poisoned.Load(); n > 0 {
		t.Fatalf("%d of %d responses were the bytes another response hid", n, sent.Load())
	}
	t.Logf("%d requests, none poisoned", sent.Load())
}

// TestTLSBackendsServeThroughTheProxy: ordinary traffic to https backends,
// one that speaks only HTTP/1.1 and one that speaks HTTP/2, on pooled
// connections: plain and streamed bodies, uploads, and a WebSocket tunnel
// on the HTTP/1.1 one.
func TestTLSBackendsServeThroughTheProxy(t *testing.T) {
	cert, caFile := testCert(t)
	t.Setenv("SSL_CERT_FILE", caFile)
	for _, h2 := range []bool{false, true} {
		name := "http1.1"
		if h2 {
			name = "h2"
		}
		t.Run(name, func(t *testing.T) {
			var conns, requests, wrongProto atomic.Int64
			mux := http.NewServeMux()
			mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") })
			mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
				for i := range 3 {
					fmt.Fprintf(w, "part%d;", i)
					w.(http.Flusher).Flush()
				}
			})
			mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body) // net/http's HTTP/1 server is not full duplex
				w.Write(body)
			})
			mux.Handle("/ws", websocket.Handler(func(c *websocket.Conn) { io.Copy(c, c) }))
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				if (r.ProtoMajor == 2) != h2 {
					wrongProto.Add(1)
				}
				mux.ServeHTTP(w, r)
			}))
			srv.EnableHTTP2 = h2
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			addr := freeAddr(t)
			caddyProcess(t, addr, fmt.Sprintf(`{"handler": "smartproxy", "timeout": "5s", "backends": [{"url": %q}]}`, srv.URL))
			client := &http.Client{Timeout: 10 * time.Second}
			check := func(method, path, body, want string) {
				t.Helper()
				req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(got) != want {
					t.Fatalf("%s %s: %d %.80q, want 200 %.80q", method, path, resp.StatusCode, got, want)
				}
			}
			base := requests.Load() // the readiness probe
			big := strings.Repeat("upload-", 20000)
			for range 10 {
				check("GET", "/plain", "", "plain")
				check("GET", "/chunked", "", "part0;part1;part2;")
				check("POST", "/post", big, big)
			}
			served := requests.Load() - base
			if wrongProto.Load() != 0 {
				t.Fatalf("%d requests reached the backend in the wrong protocol", wrongProto.Load())
			}
			if !h2 {
				ws, err := websocket.Dial("ws://"+addr+"/ws", "", "http://"+addr)
				if err != nil {
					t.Fatalf("websocket through the proxy to an https backend: %v", err)
				}
				ws.SetDeadline(time.Now().Add(5 * time.Second))
				var echo string
				if err := websocket.Message.Send(ws, "over tls"); err != nil {
					t.Fatal(err)
				}
				if err := websocket.Message.Receive(ws, &echo); err != nil || echo != "over tls" {
					t.Fatalf("echo %q, %v", echo, err)
				}
				ws.Close()
			}
			n := conns.Load()
			t.Logf("%d requests on %d backend connections", served, n)
			// One client in turn: a few connections carry everything,
			// HTTP/1.1 ones one exchange after another (the WebSocket
			// tunnel takes one of its own).
			if n > 4 {
				t.Fatalf("%d requests on %d connections: backend connections are not reused", served, n)
			}
		})
	}
}

// hostileH2C is a raw HTTP/2 (prior knowledge) backend that answers each
// stream by its path: "/long" sends more DATA than its content-length,
// "/head" sends DATA after the answer to HEAD, "/ahead" also answers the
// next stream the client has not opened yet; anything else gets "ok".
func hostileH2C(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveHostileH2C(c)
		}
	}()
	return "h2c://" + ln.Addr().String()
}

func serveHostileH2C(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := io.ReadFull(br, make([]byte, len(http2.ClientPreface))); err != nil {
		return
	}
	fr := http2.NewFramer(c, br)
	fr.WriteSettings()
	dec := hpack.NewDecoder(4096, nil)
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	headers := func(stream uint32, endStream bool) {
		hbuf.Reset()
		enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		enc.WriteField(hpack.HeaderField{Name: "content-length", Value: "2"})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: hbuf.Bytes(), EndHeaders: true, EndStream: endStream})
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
			}
		case *http2.HeadersFrame:
			fields, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				return
			}
			var method, path string
			for _, hf := range fields {
				switch hf.Name {
				case ":method":
					method = hf.Value
				case ":path":
					path = hf.Value
				}
			}
			id := f.StreamID
			switch {
			case method == http.MethodHead:
				headers(id, false)
				fr.WriteData(id, true, []byte("FAKE"))
			case path == "/long":
				headers(id, false)
				fr.WriteData(id, false, []byte("ok"))
				fr.WriteData(id, true, []byte("FAKE"))
			case path == "/ahead":
				headers(id, false)
				fr.WriteData(id, true, []byte("ok"))
				headers(id+2, false)
				fr.WriteData(id+2, true, []byte("FAKE"))
			default:
				headers(id, false)
				fr.WriteData(id, true, []byte("ok"))
			}
		}
	}
}

// TestH2CBackendHostileFramesStayInTheirStream: over HTTP/2 every byte is
// framed in a stream, so a backend's extra DATA, DATA after HEAD, or an
// answer on a stream not yet opened can at worst break its own stream (or
// the connection); the next request never gets those bytes.
func TestH2CBackendHostileFramesStayInTheirStream(t *testing.T) {
	addr := freeAddr(t)
	caddyProcess(t, addr, fmt.Sprintf(`{"handler": "smartproxy", "timeout": "5s", "retries": {"count": 0},
		"backends": [{"url": %q}]}`, hostileH2C(t)))
	client := &http.Client{Timeout: 10 * time.Second}
	for round := range 10 {
		for _, h := range []struct{ method, path string }{{"GET", "/long"}, {"HEAD", "/head"}, {"GET", "/ahead"}} {
			req, _ := http.NewRequest(h.method, "http://"+addr+h.path, nil)
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			resp, err := client.Get("http://" + addr + "/next")
			if err != nil {
				t.Fatalf("round %d, after %s %s: %v", round, h.method, h.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// "/ahead" breaks its connection (an answer on a stream not
			// yet opened is a connection error): a request that raced
			// onto the dying connection may get 502. What it may never
			// get is the hostile bytes.
			if strings.Contains(string(body), "FAKE") ||
				!(resp.StatusCode == 200 && string(body) == "ok" || resp.StatusCode == http.StatusBadGateway && h.path == "/ahead") {
				t.Fatalf("round %d: the request after %s %s got %d %q", round, h.method, h.path, resp.StatusCode, body)
			}
		}
	}
}
