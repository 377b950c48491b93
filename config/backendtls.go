package config

import (
	"crypto/x509"
	"strconv"
	"strings"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// BackendTLS configures TLS to https:// backends: whom to trust, the
// client certificate to present (mutual TLS), the name to verify. Files
// are read when the config loads; a file that changes takes effect on the
// next reload.
type BackendTLS struct {
	// CA is a PEM file of the certificate authorities to trust instead of
	// the system's roots. Default: the system roots.
	CA string `json:"ca,omitempty"`

	// CAPEM is the same as CA, inline: one or more PEM certificates. With
	// CA as well, both are trusted. Default: none.
	CAPEM string `json:"ca_pem,omitempty"`

	// ClientCertificate is a PEM file of the certificate (chain) to
	// present to backends that ask for one (mutual TLS); it needs
	// ClientKey. Default: none.
	ClientCertificate string `json:"client_certificate,omitempty"`

	// ClientKey is the PEM file of ClientCertificate's private key.
	ClientKey string `json:"client_key,omitempty"`

	// ServerName is sent as SNI and is the name the backend's certificate
	// must be valid for. Default: the backend URL's host.
	ServerName string `json:"server_name,omitempty"`

	// InsecureSkipVerify turns off verification of the backend's
	// certificate: anyone on the path can read and change the traffic.
	// For tests only; a warning is logged at every load. Default: false.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`

	// MinVersion is the lowest TLS version accepted: `1.2` or `1.3`.
	// Default: 1.2.
	MinVersion string `json:"min_version,omitempty"`

	// Renegotiation allows a backend to renegotiate: `never`, `once`
	// (some IIS backends ask for a client certificate that way) or
	// `freely`. Default: never.
	Renegotiation string `json:"renegotiation,omitempty"`
}

func (t *BackendTLS) validate(p string) error {
	if t == nil {
		return nil
	}
	if t.ClientCertificate != "" && t.ClientKey == "" {
		return errAt(p+".client_key", "required with client_certificate %q", t.ClientCertificate)
	}
	if t.ClientKey != "" && t.ClientCertificate == "" {
		return errAt(p+".client_certificate", "required with client_key %q", t.ClientKey)
	}
	if t.CAPEM != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(t.CAPEM)) {
		return errAt(p+".ca_pem", "%q: no PEM certificate in it", truncate(t.CAPEM, 40))
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	case "1.0", "1.1":
		return errAt(p+".min_version", "%q: TLS 1.0 and 1.1 are broken; use 1.2 or 1.3", t.MinVersion)
	default:
		return errAt(p+".min_version", "%q: want 1.2 or 1.3", t.MinVersion)
	}
	switch t.Renegotiation {
	case "", "never", "once", "freely":
	default:
		return errAt(p+".renegotiation", "%q: want never, once or freely", t.Renegotiation)
	}
	if t.ServerName != "" && (strings.ContainsAny(t.ServerName, " \t\r\n/?#@{}") || strings.Contains(t.ServerName, ":")) {
		return errAt(p+".server_name", "%q: want a host name, without port or placeholders", t.ServerName)
	}
	return nil
}

// validateHostHeader checks host_header: client, backend, or a value
// (placeholders allowed) that could be a Host.
func validateHostHeader(p, h string) error {
	if h == "" || h == "client" || h == "backend" {
		return nil
	}
	if strings.ContainsAny(h, " \t\r\n\x00/?#@") {
		return errAt(p, "%q: want client, backend, or a host[:port] (placeholders allowed)", h)
	}
	return nil
}

// validateTLSUse refuses tls on a section whose backends are not https://:
// it would silently do nothing. own is the section as written, eff the
// section with what it inherits.
func validateTLSUse(p string, own, eff Section) error {
	if own.TLS == nil && !backendTLSSet(own.Backends) {
		return nil
	}
	key, bs := p+"tls", eff.Backends
	if own.TLS == nil {
		key, bs = "", own.Backends // the error names the backend whose own tls it is
	}
	for i, b := range bs {
		u, err := backend.Parse(b.URL)
		if err != nil || u.Scheme == "https" || key == "" && b.TLS == nil {
			continue
		}
		k := key
		if k == "" {
			k = p + "backends[" + strconv.Itoa(i) + "].tls"
		}
		return errAt(k, "set, but the backends are %s://: TLS settings apply to https:// backends", u.Scheme)
	}
	return nil
}

func backendTLSSet(bs []Backend) bool {
	for _, b := range bs {
		if b.TLS != nil {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
