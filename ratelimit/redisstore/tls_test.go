package redisstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// testCert makes a self-signed certificate for 127.0.0.1, its own CA,
// written as PEM files in a temporary directory.
func testCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redisstore test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool, pair
}

// TestTLSToRealRedis runs the shared limit over TLS through the Store's own
// dialer: the server name comes from the address, and a Store that does
// not trust the server's certificate gets no answer, only the failure
// policy.
func TestTLSToRealRedis(t *testing.T) {
	certFile, keyFile, pool, _ := testCert(t)
	addr := redistest.StartTLS(t, certFile, keyFile, &tls.Config{RootCAs: pool}).Addr
	s := exact(0.01, 3)
	s.Address = addr
	s.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	var stores [2]*Store
	for i := range stores {
		st, err := New(s)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores[i] = st
	}
	for i := range 3 {
		if !mustAllow(t, stores[i%2], "client") {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if mustAllow(t, stores[1], "client") || stores[0].Degraded() || stores[1].Degraded() {
		t.Fatalf("past the shared burst over TLS: degraded %v %v", stores[0].Degraded(), stores[1].Degraded())
	}

	untrusting := s
	untrusting.TLS = &tls.Config{MinVersion: tls.VersionTLS12} // the system roots
	st, err := New(untrusting)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	d, err := st.Allow(context.Background(), "client")
	if err != nil || !d.Allowed || !st.Degraded() || time.Since(start) > st.Settings().ReadTimeout+slack {
		t.Fatalf("untrusted certificate: %+v, %v, degraded %v after %v; want the fallback within the timeout",
			d, err, st.Degraded(), time.Since(start))
	}
}

// TestTLSRogueIsGuarded checks that the guard reads the decrypted stream:
// a hostile reply over TLS is refused like one over TCP.
func TestTLSRogueIsGuarded(t *testing.T) {
	_, _, pool, pair := testCert(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	r := serveRogue(t, l, say("*2147483647\r\n"))
	s := hostile(r.addr)
	s.TLS = &tls.Config{RootCAs: pool}
	st, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := st.Allow(context.Background(), "client")
	if err != nil || !d.Allowed || !st.Degraded() {
		t.Fatalf("%+v, %v, degraded %v; want the fallback", d, err, st.Degraded())
	}
	select {
	case <-r.closed:
	case <-time.After(2 * time.Second):
		t.Fatal("the TLS connection to the rogue server is still open")
	}
	if st.Errors() == 0 {
		t.Fatal("no error counted")
	}
}
