package caddytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
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
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// TLS to backends and the Host policy (issue 17, parts 1 and 2): a CA
// made in the test, a backend certificate it signs, a second CA for
// client certificates, real TLS servers on loopback.

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	file string // pem, written to a file
}

var serial int64 = 100

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.file = filepath.Join(t.TempDir(), name+".pem")
	if err := os.WriteFile(ca.file, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue signs a leaf certificate: for a server (names, ips) or a client.
func (ca *testCA) issue(t *testing.T, client bool, names []string, ips ...net.IP) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: names, IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certFile, keyFile
}

// tlsBackend is an https backend that answers with what it saw: the Host,
// X-Forwarded-Host, the SNI and the client certificate's issuer.
func tlsBackend(t *testing.T, cfg *tls.Config) *httptest.Server {
	t.Helper()
	return tlsBackendProto(t, cfg, false, nil)
}

// tlsBackendProto is tlsBackend offering HTTP/2 by ALPN too when h2; its
// answers then end in proto=HTTP/1.1 or proto=HTTP/2.0, the protocol the
// request came in on. connState, when not nil, is its server's ConnState.
func tlsBackendProto(t *testing.T, cfg *tls.Config, h2 bool, connState func(net.Conn, http.ConnState)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := "-"
		if len(r.TLS.PeerCertificates) > 0 {
			client = r.TLS.PeerCertificates[0].Issuer.CommonName
		}
		fmt.Fprintf(w, "host=%s xfh=%s sni=%s client=%s", r.Host, r.Header.Get("X-Forwarded-Host"), r.TLS.ServerName, client)
		if h2 {
			fmt.Fprintf(w, " proto=%s", r.Proto)
		}
	}))
	srv.EnableHTTP2 = h2
	srv.Config.ConnState = connState
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// startWithErrors runs the handler h behind a server whose error route
// answers the status with the error's message, so a test can read why a
// request failed.
func startWithErrors(t *testing.T, h map[string]any) {
	t.Helper()
	h["handler"] = "smartproxy"
	hj, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{
	"admin": {"listen": "localhost:2999"},
	"logging": {"logs": {"default": {"level": "ERROR"}}},
	"apps": {"http": {"servers": {"sp": {
		"listen": [%q],
		"automatic_https": {"disable": true},
		"routes": [{"handle": [%s]}],
		"errors": {"routes": [{"handle": [{"handler": "static_response", "status_code": "{http.error.status_code}", "body": "{http.error.message}"}]}]}
	}}}}
}`, proxyAddr, hj)
	caddytest.NewTester(t).InitServer(cfg, "json")
	if t.Failed() {
		t.FailNow()
	}
}

// TestBackendTLS: a backend whose certificate a test CA signed, and one
// that requires a client certificate (mutual TLS).
func TestBackendTLS(t *testing.T) {
	serverCA, clientCA, otherCA := newTestCA(t, "server-ca"), newTestCA(t, "client-ca"), newTestCA(t, "other-ca")
	// The certificate names backend.internal only: reached by IP, it
	// verifies only with server_name.
	named, _, _ := serverCA.issue(t, false, []string{"backend.internal"})
	byIP, _, _ := serverCA.issue(t, false, nil, net.IPv4(127, 0, 0, 1))
	_, clientCert, clientKey := clientCA.issue(t, true, nil)
	_, wrongCert, wrongKey := otherCA.issue(t, true, nil)
	plain := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{byIP}})
	sni := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{named}})
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	mtls := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{byIP}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	route := func(path, url string, tlsCfg map[string]any) map[string]any {
		r := map[string]any{"path": path, "backends": []map[string]any{{"url": url}}, "retries": map[string]any{"count": 0}}
		if tlsCfg != nil {
			r["tls"] = tlsCfg
		}
		return r
	}
	startWithErrors(t, map[string]any{
		"backends": []map[string]any{{"url": plain.URL}},
		"tls":      map[string]any{"ca": serverCA.file},
		"routes": []map[string]any{
			route("/no-ca", plain.URL, map[string]any{}),
			route("/inline", plain.URL, map[string]any{"ca_pem": string(serverCA.pem)}),
			route("/sni", sni.URL, map[string]any{"ca": serverCA.file, "server_name": "backend.internal"}),
			route("/sni-missing", sni.URL, map[string]any{"ca": serverCA.file}),
			route("/mtls", mtls.URL, map[string]any{"ca": serverCA.file, "client_certificate": clientCert, "client_key": clientKey}),
			route("/mtls-none", mtls.URL, map[string]any{"ca": serverCA.file}),
			route("/mtls-wrong", mtls.URL, map[string]any{"ca": serverCA.file, "client_certificate": wrongCert, "client_key": wrongKey}),
			route("/tls13", plain.URL, map[string]any{"ca": serverCA.file, "min_version": "1.3"}),
			// A backend's own tls replaces the route's (which trusts
			// nothing but the system roots here).
			{"path": "/own", "tls": map[string]any{}, "retries": map[string]any{"count": 0},
				"backends": []map[string]any{{"url": plain.URL, "tls": map[string]any{"ca": serverCA.file}}}},
			// Health checks trust what the route trusts.
			{"path": "/checked", "health_check": map[string]any{"interval": "100ms", "timeout": "50ms", "path": "/",
				"healthy_threshold": 1, "unhealthy_threshold": 1, "initial_state": "unhealthy"}},
		},
	})
	c := newClient()
	backendHost := strings.TrimPrefix(plain.URL, "https://")
	for _, tc := range []struct {
		path     string
		code     int
		contains []string
	}{
		// https backends get the backend's Host by default; the client's
		// goes in X-Forwarded-Host.
		{"/", 200, []string{"host=" + backendHost + " ", "xfh=client.example", "client=-"}},
		{"/inline", 200, []string{"host=" + backendHost}},
		{"/no-ca", 502, []string{"certificate problem", "x509: certificate signed by unknown authority"}},
		{"/sni", 200, []string{"sni=backend.internal"}},
		{"/sni-missing", 502, []string{"certificate problem", "x509: cannot validate certificate for 127.0.0.1"}},
		{"/mtls", 200, []string{"client=client-ca"}},
		{"/mtls-none", 502, []string{"certificate required"}},
		{"/mtls-wrong", 502, []string{"tls: "}},
		{"/tls13", 200, nil},
		{"/own", 200, []string{"host=" + backendHost}},
		{"/checked", 200, nil},
	} {
		if tc.path == "/checked" && !eventually(3*time.Second, func() bool { code, _ := get(t, c, "/checked"); return code == 200 }) {
			t.Errorf("/checked: the backend never passed its health check over TLS with the route's CA")
		}
		code, body := get(t, c, tc.path, "Host", "client.example")
		if code != tc.code {
			t.Errorf("%s: %d %q, want %d", tc.path, code, body, tc.code)
			continue
		}
		for _, w := range tc.contains {
			if !strings.Contains(body, w) {
				t.Errorf("%s: %d %q does not contain %q", tc.path, code, body, w)
			}
		}
	}
}

// TestBackendTLSRefusedOnLoad: TLS settings that cannot work are refused
// before anything is served, naming the key and the value.
func TestBackendTLSRefusedOnLoad(t *testing.T) {
	for _, tc := range []struct{ handler, want string }{
		{`{"handler":"smartproxy","backends":[{"url":"https://127.0.0.1:1"}],"tls":{"ca":"/nonexistent/ca.pem"}}`,
			`tls.ca: open /nonexistent/ca.pem: no such file or directory`},
		{`{"handler":"smartproxy","backends":[{"url":"https://127.0.0.1:1"}],"tls":{"client_certificate":"/x.pem"}}`,
			`tls.client_key: required with client_certificate "/x.pem"`},
		{`{"handler":"smartproxy","backends":[{"url":"http://127.0.0.1:1"}],"tls":{"server_name":"a"}}`,
			`tls: set, but the backends are http://`},
		{`{"handler":"smartproxy","backends":[{"url":"https://127.0.0.1:1"}],"tls":{"min_version":"1.1"}}`,
			`tls.min_version: "1.1": TLS 1.0 and 1.1 are broken`},
		{`{"handler":"smartproxy","backends":[{"url":"https://127.0.0.1:1"}],"host_header":"a b"}`,
			`host_header: "a b": want client, backend`},
	} {
		if msg := loadError(t, serverJSON(tc.handler)); !strings.Contains(msg, tc.want) {
			t.Errorf("error %q\nwant one containing %q", msg, tc.want)
		}
	}
}

// TestHostHeaderPolicy: http backends get the client's Host by default,
// and host_header can name the backend or build a value from
// placeholders; https backends can keep the client's with "client".
func TestHostHeaderPolicy(t *testing.T) {
	seen := newBackend(t, "seen", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "host="+r.Host)
	})
	serverCA := newTestCA(t, "server-ca")
	byIP, _, _ := serverCA.issue(t, false, nil, net.IPv4(127, 0, 0, 1))
	secure := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{byIP}})
	start(t, map[string]any{
		"backends": backends(seen),
		"routes": []map[string]any{
			{"path": "/backend", "host_header": "backend"},
			{"path": "/tenant", "host_header": "{http.request.header.X-Tenant}.internal"},
			{"path": "/keep", "host_header": "client", "backends": []map[string]any{{"url": secure.URL}}, "tls": map[string]any{"ca": serverCA.file}},
		},
	})
	c := newClient()
	for _, tc := range []struct{ path, want string }{
		{"/", "host=client.example"},
		{"/backend", "host=" + strings.TrimPrefix(seen.URL, "http://")},
		{"/tenant", "host=acme.internal"},
		{"/keep", "host=client.example "},
	} {
		if code, body := get(t, c, tc.path, "Host", "client.example", "X-Tenant", "acme"); code != 200 || !strings.HasPrefix(body, tc.want) {
			t.Errorf("%s: %d %q, want it to start with %q", tc.path, code, body, tc.want)
		}
	}
}
