package caddytest

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDNSDiscoveryHTTPSUsesTheResolvedName: an https backend found in DNS
// is dialled at its IP, but its TLS server name is the name it was found
// under (the A query's name, the SRV target), so a certificate that names
// only the host name verifies, for requests and for health checks; a
// configured tls.server_name wins. The backend's certificate names no IP.
// The Host it gets names it the same way.
func TestDNSDiscoveryHTTPSUsesTheResolvedName(t *testing.T) {
	ca, portStr, port, dns, _ := namedTLSBackend(t, false, "api.test", "srv-host.test", "configured.test")
	dns.setSRV("_api._tcp.test", srvRecord{"srv-host.test", uint16(port), 10, 1})
	discover := func(name, typ string) map[string]any {
		d := map[string]any{"name": name, "type": typ, "scheme": "https", "refresh": "1s", "timeout": "500ms",
			"resolvers": []string{dns.addr}}
		if typ == "A" {
			d["port"] = port
		}
		return map[string]any{"dns": d}
	}
	retries := map[string]any{"count": 0}
	startWithErrors(t, map[string]any{
		"routes": []map[string]any{
			// A health check that must pass over TLS before any traffic.
			{"path": "/a", "discovery": discover("api.test", "A"), "tls": map[string]any{"ca": ca.file}, "retries": retries,
				"health_check": map[string]any{"interval": "200ms", "timeout": "200ms", "path": "/",
					"healthy_threshold": 1, "unhealthy_threshold": 1, "initial_state": "unhealthy"}},
			{"path": "/srv", "discovery": discover("_api._tcp.test", "SRV"), "tls": map[string]any{"ca": ca.file}, "retries": retries},
			{"path": "/configured", "discovery": discover("api.test", "A"), "retries": retries,
				"tls": map[string]any{"ca": ca.file, "server_name": "configured.test"}},
		},
	})
	c := newClient()
	if !eventually(5*time.Second, func() bool { code, _ := get(t, c, "/a"); return code == 200 }) {
		code, body := get(t, c, "/a")
		t.Fatalf("/a: the discovered backend never passed its health check over TLS: %d %q", code, body)
	}
	// The Host (host_header's default for https, backend) is the name too,
	// with the port: a virtual host behind it answers to that name.
	for _, tc := range []struct{ path, sni, host string }{
		{"/a", "api.test", "api.test:" + portStr},
		{"/srv", "srv-host.test", "srv-host.test:" + portStr},
		{"/configured", "configured.test", "api.test:" + portStr},
	} {
		code, body := get(t, c, tc.path)
		if code != 200 || !strings.Contains(body, "sni="+tc.sni+" ") || !strings.HasPrefix(body, "host="+tc.host+" ") {
			t.Errorf("%s: %d %q, want 200 with host=%s and sni=%s", tc.path, code, body, tc.host, tc.sni)
		}
	}
}

// TestDNSDiscoveryHTTPSNameChangeTakesNewConnections: when an SRV answer
// moves an https backend's IP:port from one target name to another, under
// load, no request after the change goes out on a pooled connection
// verified for the old name: a connection is reused only for the same
// address and TLS server name. The backend's certificate names both; it
// reports the SNI of the connection each request came in on, and the
// Host, which names the member the request was sent to. The old name's
// connections close once their requests are done, though requests to the
// new member at the same address keep the backend busy; a later change
// of weight (a new member of the same name) keeps the new name's. Over
// HTTP/1.1 and HTTP/2.
func TestDNSDiscoveryHTTPSNameChangeTakesNewConnections(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "h1", true: "h2"}[h2], func(t *testing.T) {
			ca, portStr, port, dns, conns := namedTLSBackend(t, h2, "one.test", "two.test")
			dns.setSRV("_api._tcp.test", srvRecord{"one.test", uint16(port), 10, 1})
			startWithErrors(t, map[string]any{
				"discovery": map[string]any{"dns": map[string]any{"name": "_api._tcp.test", "type": "SRV", "scheme": "https",
					"refresh": "1s", "timeout": "500ms", "resolvers": []string{dns.addr}}},
				"tls": map[string]any{"ca": ca.file}, "retries": map[string]any{"count": 0},
			})
			c := newClient()
			// Several connections verified for one.test in the proxy's pool.
			for _, a := range parallelGets(t, c, "/", 8, 40) {
				if a.sni != "one.test" || a.host != "one.test:"+portStr {
					t.Fatalf("before the change: %+v, want host one.test:%s over sni one.test", a, portStr)
				}
			}
			l := startTLSLoad(c, "/", 8, 20000)
			dns.setSRV("_api._tcp.test", srvRecord{"two.test", uint16(port), 10, 1})
			var open map[string]int
			closed := eventually(10*time.Second, func() bool {
				open = conns.open()
				return open["one.test"] == 0 && l.count("two.test:"+portStr) >= 200
			})
			answers, errs := l.finish()
			if len(errs) > 0 {
				t.Fatalf("%d of %d requests failed: %v", len(errs), len(answers)+len(errs), errs[:min(len(errs), 5)])
			}
			after := 0
			for _, a := range answers {
				if a.host == "one.test:"+portStr {
					continue // sent to the old member, before the proxy had the new answer
				}
				after++
				if a.host != "two.test:"+portStr || a.sni != "two.test" {
					t.Fatalf("after the change: %+v, want host two.test:%s over sni two.test (a connection verified for another name was reused)", a, portStr)
				}
				if h2 && a.proto != "HTTP/2.0" {
					t.Fatalf("after the change: %+v, want HTTP/2", a)
				}
			}
			if !closed {
				t.Fatalf("%d requests to the new name in 10s; connections open at the backend by SNI: %v: want 200 and none for one.test", after, open)
			}
			t.Logf("%d requests, %d to the new name; connections open by SNI once one.test left: %v", len(answers), after, open)
			// A change of the SRV weight makes a new member of the same
			// name and drains the old one: two.test's connections stay.
			q := dns.queries.Load()
			dns.setSRV("_api._tcp.test", srvRecord{"two.test", uint16(port), 10, 2})
			// The watcher asks again only after it applied the answer before.
			if !eventually(5*time.Second, func() bool { return dns.queries.Load() >= q+2 }) {
				t.Fatal("the proxy stopped asking the DNS server")
			}
			for _, a := range parallelGets(t, c, "/", 8, 16) {
				if a.sni != "two.test" {
					t.Fatalf("after the weight change: %+v", a)
				}
			}
			if open = conns.open(); open["two.test"] == 0 || open["one.test"] != 0 {
				t.Fatalf("connections open at the backend by SNI after the weight change: %v", open)
			}
		})
	}
}

// namedTLSBackend starts a tlsBackendProto on 127.0.0.1 whose certificate,
// from a CA of its own, carries names (and no IP), and a DNS server where
// every one of names resolves to 127.0.0.1; conns follows the backend's
// connections.
func namedTLSBackend(t *testing.T, h2 bool, names ...string) (ca *testCA, portStr string, port int, dns *dnsServer, conns *sniConns) {
	t.Helper()
	ca = newTestCA(t, "discovery-ca")
	cert, _, _ := ca.issue(t, false, names)
	conns = &sniConns{m: map[net.Conn]string{}}
	b := tlsBackendProto(t, &tls.Config{Certificates: []tls.Certificate{cert}}, h2, conns.track)
	_, portStr, _ = net.SplitHostPort(strings.TrimPrefix(b.URL, "https://"))
	port, _ = strconv.Atoi(portStr)
	dns = newDNSServer(t)
	for _, n := range names {
		dns.setA(n, "127.0.0.1")
	}
	return ca, portStr, port, dns, conns
}

// sniConns follows a TLS backend's open connections and the server name
// each was made for.
type sniConns struct {
	mu sync.Mutex
	m  map[net.Conn]string
}

// track is the backend server's ConnState.
func (s *sniConns) track(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateActive, http.StateIdle: // the handshake is done
		if tc, ok := c.(*tls.Conn); ok {
			s.m[c] = tc.ConnectionState().ServerName
		}
	case http.StateClosed, http.StateHijacked:
		delete(s.m, c)
	}
}

// open counts the open connections by server name.
func (s *sniConns) open() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, name := range s.m {
		out[name]++
	}
	return out
}

// tlsAnswer is what tlsBackendProto saw of one request.
type tlsAnswer struct{ host, sni, proto string }

// parseTLSAnswer reads a tlsBackendProto answer.
func parseTLSAnswer(body string) tlsAnswer {
	var a tlsAnswer
	for _, f := range strings.Fields(body) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "host":
			a.host = v
		case "sni":
			a.sni = v
		case "proto":
			a.proto = v
		}
	}
	return a
}

// tlsLoad runs GETs through the proxy from several goroutines, collecting
// tlsBackendProto's answers, until finish or max requests; a request the
// old server dropped right after a config load is retried
// (getRetryingDrop).
type tlsLoad struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	sent    atomic.Int64
	mu      sync.Mutex
	answers []tlsAnswer
	errs    []string
}

func startTLSLoad(c *http.Client, path string, conc int, max int64) *tlsLoad {
	l := &tlsLoad{stop: make(chan struct{})}
	for range conc {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for l.sent.Add(1) <= max {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, _, err := getRetryingDrop(c, proxyURL+path, true)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
					}
				}
				l.mu.Lock()
				if err != nil {
					l.errs = append(l.errs, err.Error())
				} else {
					l.answers = append(l.answers, parseTLSAnswer(string(body)))
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// count is how many answers so far named host.
func (l *tlsLoad) count(host string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.answers {
		if a.host == host {
			n++
		}
	}
	return n
}

// finish stops the load, waits for its requests and returns what they got.
func (l *tlsLoad) finish() ([]tlsAnswer, []string) {
	close(l.stop)
	l.wg.Wait()
	return l.answers, l.errs
}

// parallelGets makes n GETs of path through the proxy from conc goroutines
// and returns the answers of tlsBackendProto; a failed request or another
// status fails the test.
func parallelGets(t *testing.T, c *http.Client, path string, conc, n int) []tlsAnswer {
	t.Helper()
	answers, errs := startTLSLoad(c, path, conc, int64(n)).finish()
	if len(errs) > 0 {
		t.Fatalf("%d of %d requests failed: %v", len(errs), n, errs[:min(len(errs), 5)])
	}
	return answers
}
