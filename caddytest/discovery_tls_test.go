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
// moves an https backend's IP:port from one target name to another, no
// request after the change goes out on a pooled connection verified for
// the old name: a connection is reused only for the same address and TLS
// server name. The backend's certificate names both; it reports the SNI of
// the connection each request came in on, and the Host, which names the
// member the request was sent to. Over HTTP/1.1 and HTTP/2.
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
			dns.setSRV("_api._tcp.test", srvRecord{"two.test", uint16(port), 10, 1})
			after := 0
			for deadline := time.Now().Add(10 * time.Second); after < 200 && time.Now().Before(deadline); {
				for _, a := range parallelGets(t, c, "/", 8, 16) {
					if a.host == "one.test:"+portStr {
						continue // sent before the proxy had the new answer
					}
					after++
					if a.host != "two.test:"+portStr || a.sni != "two.test" {
						t.Fatalf("after the change: %+v, want host two.test:%s over sni two.test (a connection verified for another name was reused)", a, portStr)
					}
					if h2 && a.proto != "HTTP/2.0" {
						t.Fatalf("after the change: %+v, want HTTP/2", a)
					}
				}
			}
			if after < 200 {
				t.Fatalf("%d requests went to the new name in 10s, want 200", after)
			}
			// A change of the SRV weight makes a new member of the same name,
			// and lets go of the drained one.test member, nothing in flight:
			// its name's connections are closed, two.test's are kept.
			dns.setSRV("_api._tcp.test", srvRecord{"two.test", uint16(port), 10, 2})
			var open map[string]int
			if !eventually(5*time.Second, func() bool { open = conns.open(); return open["one.test"] == 0 }) {
				t.Fatalf("connections open at the backend by SNI: %v; one.test's are still open after its last member left", open)
			}
			if open["two.test"] == 0 {
				t.Fatalf("connections open at the backend by SNI: %v; a weight change closed two.test's", open)
			}
			t.Logf("connections open at the backend by SNI after one.test left: %v", open)
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

// parallelGets makes n GETs of path through the proxy from conc goroutines
// and returns the answers of tlsBackendProto; a failed request or another
// status fails the test. The first ones may follow a reload: a request
// dropped unanswered by the old server is retried (getRetryingDrop).
func parallelGets(t *testing.T, c *http.Client, path string, conc, n int) []tlsAnswer {
	t.Helper()
	var mu sync.Mutex
	var out []tlsAnswer
	var errs []string
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += conc {
				resp, _, err := getRetryingDrop(c, proxyURL+path, true)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
					}
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err.Error())
				} else {
					var a tlsAnswer
					for _, f := range strings.Fields(string(body)) {
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
					out = append(out, a)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d requests failed: %v", len(errs), n, errs[:min(len(errs), 5)])
	}
	return out
}
