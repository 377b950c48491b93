package caddytest

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// TestCaddyfileBackendOwnTLS: two https backends of one route, whose
// certificates two different CAs signed; the section trusts the first
// CA, and only the second backend's `to` block trusts the second. Both
// serve, health checks included (they start unhealthy), and the second's
// own server name is its SNI; a third upstream without a block, signed by
// the second CA, fails its checks as the section's settings say.
func TestCaddyfileBackendOwnTLS(t *testing.T) {
	caA, caB := newTestCA(t, "ca-a"), newTestCA(t, "ca-b")
	certA, _, _ := caA.issue(t, false, nil, net.IPv4(127, 0, 0, 1))
	certB, _, _ := caB.issue(t, false, []string{"b.internal"})
	certC, _, _ := caB.issue(t, false, nil, net.IPv4(127, 0, 0, 1))
	a := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{certA}})
	b := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{certB}})
	c := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{certC}})
	tester := caddytest.NewTester(t)
	tester.InitServer(caddyfileSite(fmt.Sprintf(`
		smartproxy {
			to %s
			to %s {
				tls_trusted_ca_certs %s
				tls_server_name b.internal
			}
			tls_trusted_ca_certs %s
			health_check / {
				interval 200ms
				timeout 200ms
				healthy_threshold 1
				initial_state unhealthy
			}
			route /c {
				to %s
				retries 0
			}
		}`, a.URL, b.URL, caB.file, caA.file, c.URL)), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	client := newClient()
	// Both start unhealthy: each must pass its check, b's with its own CA.
	if !eventually(5*time.Second, func() bool {
		seen := map[string]bool{}
		for range 4 {
			if code, body := get(t, client, "/"); code == 200 {
				seen[body] = true
			}
		}
		return len(seen) == 2
	}) {
		st := getStatus(t)
		t.Fatalf("the backends did not both pass their health checks over TLS: %+v", st.Routes)
	}
	seen := map[string]int{}
	for range 4 {
		code, body := get(t, client, "/")
		if code != 200 {
			t.Fatalf("GET /: %d %q: both backends must serve, each with its own CA", code, body)
		}
		seen[strings.Fields(body)[2]]++ // sni=...
	}
	if seen["sni="] != 2 || seen["sni=b.internal"] != 2 {
		t.Fatalf("round robin over the two backends, by SNI: %v; want 2 with no SNI (an IP is never sent) and 2 with b's own", seen)
	}
	// Its check, with the section's CA, never passes: never available.
	if code, body := get(t, client, "/c"); code != 503 {
		t.Fatalf("GET /c: %d %q, want 503: a backend without its own tls trusts only the section's CA", code, body)
	}
}
