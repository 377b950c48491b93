package h1

import (
	"fmt"
	"net/http"
	"strings"
)

// validateRequest refuses, before anything is written, a request whose
// header fields would break the message framing or smuggle a field in:
// the checks net/http's Transport makes (field names are tokens, values
// hold no control byte but HTAB) and two more. Where net/http would blank
// an invalid Host, it is refused: sending the request to another host
// than the one asked for is no better. And a framing field spelt other
// than canonically ("content-length" set straight in the map) is refused:
// the writers skip only the canonical keys, so it would go out beside the
// framing they compute. A method that is not a token, or a query with a
// space or control byte, is refused too: each goes out as it is, in the
// request line.
func validateRequest(req *http.Request) error {
	for i := 0; i < len(req.Method); i++ {
		if !tokenByte[req.Method[i]] {
			return fmt.Errorf("%w: method %q", ErrInvalidHeader, req.Method)
		}
	}
	if req.URL != nil {
		q := req.URL.RawQuery
		for i := 0; i < len(q); i++ {
			if c := q[i]; c <= ' ' || c == 0x7f {
				return fmt.Errorf("%w: query %q", ErrInvalidHeader, q)
			}
		}
	}
	if err := validateFields(req.Header); err != nil {
		return err
	}
	if err := validateFields(req.Trailer); err != nil {
		return fmt.Errorf("trailer: %w", err)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	for i := 0; i < len(host); i++ {
		if !hostByte[host[i]] {
			return fmt.Errorf("%w: Host %q", ErrInvalidHeader, host)
		}
	}
	return nil
}

func validateFields(h http.Header) error {
	for k, vv := range h {
		if k == "" {
			return fmt.Errorf("%w: empty field name", ErrInvalidHeader)
		}
		for i := 0; i < len(k); i++ {
			if !tokenByte[k[i]] {
				return fmt.Errorf("%w: field name %q", ErrInvalidHeader, k)
			}
		}
		if framingField(k) {
			return fmt.Errorf("%w: field name %q spelt other than canonically", ErrInvalidHeader, k)
		}
		for _, v := range vv {
			for i := 0; i < len(v); i++ {
				if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
					return fmt.Errorf("%w: value of %q holds byte %#02x", ErrInvalidHeader, k, c)
				}
			}
		}
	}
	return nil
}

// framingField reports whether k names Content-Length,
// Transfer-Encoding, Host or Trailer other than in canonical form.
func framingField(k string) bool {
	for _, f := range [...]string{"Content-Length", "Transfer-Encoding", "Host", "Trailer"} {
		if len(k) == len(f) && k != f && strings.EqualFold(k, f) {
			return true
		}
	}
	return false
}

// tokenByte marks RFC 9110's tchar; hostByte the bytes net/http lets
// through a Host header (letters, digits and RFC 3986's unreserved,
// sub-delims, ':', '[', ']' and '%').
var tokenByte, hostByte = func() (tok, host [256]bool) {
	for c := 0; c < 256; c++ {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		tok[c], host[c] = alnum, alnum
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		tok[c] = true
	}
	for _, c := range "!$%&'()*+,-.:;=[]_~" {
		host[c] = true
	}
	return
}()
