package caddytest

import (
	"crypto/tls"
	"net"
	"strconv"
	"strings"
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
	ca := newTestCA(t, "discovery-ca")
	cert, _, _ := ca.issue(t, false, []string{"api.test", "srv-host.test", "configured.test"})
	b := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	_, portStr, _ := net.SplitHostPort(strings.TrimPrefix(b.URL, "https://"))
	port, _ := strconv.Atoi(portStr)
	dns := newDNSServer(t)
	dns.setA("api.test", "127.0.0.1")
	dns.setA("srv-host.test", "127.0.0.1")
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
