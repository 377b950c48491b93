package smartproxy

import (
	"maps"
	"strconv"
	"strings"

	"github.com/caddy-smartproxy/smartproxy/config"
)

// TLS to backends in the Caddyfile: a `tls { … }` block with the JSON's
// keys, or Caddy's transport words (`tls_trusted_ca_certs`,
// `tls_client_auth`, `tls_server_name`, `tls_insecure_skip_verify`,
// `tls_renegotiation`), for a section, or for the upstreams of one `to`
// in its block:
//
//	to https://10.0.0.5:443 {
//	    tls_trusted_ca_certs /etc/ca-a.pem
//	    tls_server_name a.internal
//	}

// tlsNames are the subdirectives tlsDirective knows.
var tlsNames = []string{"tls", "tls_server_name", "tls_trusted_ca_certs", "tls_client_auth",
	"tls_insecure_skip_verify", "tls_renegotiation"}

// tlsDirective parses one of tlsNames into the BackendTLS that get returns
// (made on first use), whose key path is prefix+"tls"; ok is false for any
// other subdirective.
func (p *cfParser) tlsDirective(prefix string, get func() *config.BackendTLS) (ok bool, err error) {
	d := p.d
	word := d.Val()
	if word != "tls" && !strings.HasPrefix(word, "tls_") {
		return false, nil
	}
	if _, ok := p.at[prefix+"tls"]; !ok {
		p.mark(prefix + "tls") // an error about the settings as a whole points here
	}
	switch word {
	case "tls":
		return true, p.block(prefix+"tls", get())
	case "tls_server_name", "tls_renegotiation":
		key := "server_name"
		if word == "tls_renegotiation" {
			key = "renegotiation"
		}
		p.mark(prefix + "tls." + key)
		args := d.RemainingArgs()
		if len(args) != 1 {
			return true, d.ArgErr()
		}
		if key == "server_name" {
			get().ServerName = args[0]
		} else {
			get().Renegotiation = args[0]
		}
	case "tls_trusted_ca_certs":
		p.mark(prefix + "tls.ca")
		args := d.RemainingArgs()
		if len(args) != 1 {
			return true, d.Errf("tls_trusted_ca_certs: want one PEM file (it may hold several certificates), got %d", len(args))
		}
		get().CA = args[0]
	case "tls_client_auth":
		p.mark(prefix + "tls.client_certificate")
		args := d.RemainingArgs()
		if len(args) != 2 {
			return true, d.Errf("tls_client_auth: want <cert_file> <key_file>, got %d values", len(args))
		}
		t := get()
		t.ClientCertificate, t.ClientKey = args[0], args[1]
	case "tls_insecure_skip_verify":
		p.mark(prefix + "tls.insecure_skip_verify")
		if d.NextArg() {
			return true, d.ArgErr()
		}
		get().InsecureSkipVerify = true
	default:
		return false, nil
	}
	return true, nil
}

// upstreamBlock parses the block of a `to` whose upstreams are
// s.Backends[first:], if one follows: their own TLS settings
// (backends[].tls), the same for each. Key paths are marked for every one
// of them, so an error names the backend and the line.
func (p *cfParser) upstreamBlock(prefix string, s *config.Section, first int) error {
	d := p.d
	own := prefix + "backends[" + strconv.Itoa(first) + "]."
	for n := d.Nesting(); d.NextBlock(n); {
		ok, err := p.tlsDirective(own, func() *config.BackendTLS { return tlsOf(&s.Backends[first].TLS) })
		if err != nil {
			return err
		}
		if !ok {
			return unknownSubdirective(d, "to", tlsNames)
		}
	}
	bt := s.Backends[first].TLS
	if bt == nil {
		return nil
	}
	marks := maps.Clone(p.at)
	for i := first + 1; i < len(s.Backends); i++ {
		cp := *bt
		s.Backends[i].TLS = &cp
		other := prefix + "backends[" + strconv.Itoa(i) + "]."
		for path, tok := range marks {
			if rest, ok := strings.CutPrefix(path, own+"tls"); ok {
				p.at[other+"tls"+rest] = tok
			}
		}
	}
	return nil
}
