package config

import "strconv"

// The sections that shape each request (issue 17): backend TLS, the Host
// policy, headers, the path prefix. Their inheritance and cross-checks are kept here, one call each
// from Route and validate.

// inheritShaping gives the route section r the top level's shaping keys
// it leaves unset.
func inheritShaping(r *Section, top Section) {
	if r.TLS == nil {
		r.TLS = top.TLS
	}
	if r.HostHeader == "" {
		r.HostHeader = top.HostHeader
	}
	if r.Headers == nil {
		r.Headers = top.Headers
	}
	if r.StripPathPrefix == "" {
		r.StripPathPrefix = top.StripPathPrefix
	}
	if r.Mirror == nil {
		r.Mirror = top.Mirror
	}
}

// validateShaping checks the section's own shaping keys at prefix p.
func (s *Section) validateShaping(p string) error {
	if err := s.TLS.validate(p + "tls"); err != nil {
		return err
	}
	for i, b := range s.Backends {
		if err := b.TLS.validate(p + "backends[" + strconv.Itoa(i) + "].tls"); err != nil {
			return err
		}
	}
	if err := s.Headers.validate(p + "headers"); err != nil {
		return err
	}
	if err := validateStripPrefix(p+"strip_path_prefix", s.StripPathPrefix); err != nil {
		return err
	}
	if err := s.Mirror.validate(p + "mirror"); err != nil {
		return err
	}
	return validateHostHeader(p+"host_header", s.HostHeader)
}
