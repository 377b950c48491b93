package smartproxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/caddy-smartproxy/smartproxy/config"
)

// TLS to https:// backends: the section's (or a backend's own) tls
// settings become a tls.Config merged into the one Caddy's transport
// builds (which carries the ALPN protocols), and a handshake that fails
// over a certificate is told apart from a backend that was never reached.

// backendTLSKey is bt as part of a transport key: transports with
// different TLS settings never share connections. "" for none.
func backendTLSKey(bt *config.BackendTLS) string {
	if bt == nil {
		return ""
	}
	b, _ := json.Marshal(bt) // a struct of strings and a bool: cannot fail
	return string(b)
}

// clientTLS makes the TLS settings bt asks for (files read now); nil bt
// gives nil. Errors name the key (relative to the section) and the value.
func clientTLS(bt *config.BackendTLS) (*tls.Config, error) {
	if bt == nil {
		return nil, nil
	}
	cfg := &tls.Config{
		ServerName:         bt.ServerName,
		InsecureSkipVerify: bt.InsecureSkipVerify,
		MinVersion:         tls.VersionTLS12,
	}
	if bt.MinVersion == "1.3" {
		cfg.MinVersion = tls.VersionTLS13
	}
	switch bt.Renegotiation {
	case "once":
		cfg.Renegotiation = tls.RenegotiateOnceAsClient
	case "freely":
		cfg.Renegotiation = tls.RenegotiateFreelyAsClient
	}
	if bt.CA != "" || bt.CAPEM != "" {
		pool := x509.NewCertPool()
		if bt.CA != "" {
			pem, err := os.ReadFile(bt.CA)
			if err != nil {
				return nil, fmt.Errorf("tls.ca: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls.ca: %q: no PEM certificate in it", bt.CA)
			}
		}
		if bt.CAPEM != "" && !pool.AppendCertsFromPEM([]byte(bt.CAPEM)) {
			return nil, fmt.Errorf("tls.ca_pem: no PEM certificate in it")
		}
		cfg.RootCAs = pool
	}
	if bt.ClientCertificate != "" {
		cert, err := tls.LoadX509KeyPair(bt.ClientCertificate, bt.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("tls.client_certificate %q, client_key %q: %w", bt.ClientCertificate, bt.ClientKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// mergeTLS sets ours's settings on base (Caddy's, with its ALPN list).
func mergeTLS(base, ours *tls.Config) {
	if ours == nil {
		return
	}
	base.RootCAs = ours.RootCAs
	base.Certificates = ours.Certificates
	base.ServerName = ours.ServerName
	base.InsecureSkipVerify = ours.InsecureSkipVerify
	base.MinVersion = ours.MinVersion
	base.Renegotiation = ours.Renegotiation
}

// tlsCertError is a TLS handshake with a backend that failed over a
// certificate: the backend's was not trusted (unknown authority, expired,
// wrong name), or it refused the proxy's (mutual TLS). The backend was
// reached and nothing of the request was sent, so the request may move
// on to another backend; if none serves, the client gets 502 (the backend
// is misconfigured, or the proxy is), not the 503 of an unreachable one.
type tlsCertError struct {
	addr string
	err  error
}

func (e *tlsCertError) Error() string {
	return fmt.Sprintf("tls handshake with %s: certificate problem: %v", e.addr, e.err)
}

func (e *tlsCertError) Unwrap() error { return e.err }

// certProblem reports whether a handshake error is about a certificate.
func certProblem(err error) bool {
	var verr *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var hn x509.HostnameError
	if errors.As(err, &verr) || errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &hn) {
		return true
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		switch alert {
		case 42, 43, 44, 45, 46, 48, 49, 116: // bad, unsupported, revoked, expired, unknown certificate; unknown CA; access denied; certificate required
			return true
		}
	}
	return false
}

// isCertError reports whether err is a tlsCertError.
func isCertError(err error) bool {
	var ce *tlsCertError
	return errors.As(err, &ce)
}
