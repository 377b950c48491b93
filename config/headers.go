package config

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Headers changes the headers of requests on their way to backends and of
// responses on their way to clients. Values may hold Caddy placeholders
// (`{http.request.remote.host}`, `{http.smartproxy.backend}`, ...),
// parsed once when the config loads.
type Headers struct {
	// Request is applied to the request sent to backends, after
	// hop-by-hop headers are removed and X-Forwarded-* set, so it may
	// override them. Default: none.
	Request *HeaderOps `json:"request,omitempty"`

	// Response is applied to the backend's response before it goes to
	// the client, after hop-by-hop headers are removed; the placeholders
	// of the answering backend ({http.smartproxy.backend}, latency) are
	// known by then. Default: none.
	Response *HeaderOps `json:"response,omitempty"`
}

// HeaderOps are header changes, applied in Caddy's order: add, set,
// delete.
type HeaderOps struct {
	// Set replaces each named field with the value. Default: none.
	Set map[string]string `json:"set,omitempty"`

	// Add appends the value to each named field. Default: none.
	Add map[string]string `json:"add,omitempty"`

	// Delete removes the named fields. Default: none.
	Delete []string `json:"delete,omitempty"`
}

// managedHeaders are fields the proxy itself keeps right: framing and
// hop-by-hop fields (a wrong one desynchronises a connection or smuggles
// a request), and Host, which host_header sets.
var managedHeaders = map[string]string{
	"Host":              "use host_header",
	"Content-Length":    "it frames the message",
	"Transfer-Encoding": "it frames the message",
	"Connection":        "it is hop-by-hop",
	"Keep-Alive":        "it is hop-by-hop",
	"Proxy-Connection":  "it is hop-by-hop",
	"Te":                "it is hop-by-hop",
	"Trailer":           "it is hop-by-hop",
	"Upgrade":           "it is hop-by-hop",
	"Http2-Settings":    "it is hop-by-hop",
}

func (h *Headers) validate(p string) error {
	if h == nil {
		return nil
	}
	if err := h.Request.validate(p + ".request"); err != nil {
		return err
	}
	return h.Response.validate(p + ".response")
}

func (o *HeaderOps) validate(p string) error {
	if o == nil {
		return nil
	}
	for _, op := range []struct {
		key string
		m   map[string]string
	}{{"add", o.Add}, {"set", o.Set}} {
		for _, name := range sortedKeys(op.m) {
			if err := checkHeaderName(p+"."+op.key, name); err != nil {
				return err
			}
			if v := op.m[name]; strings.ContainsAny(v, "\r\n\x00") {
				return errAt(p+"."+op.key+"."+name, "%q: a header value may not hold CR, LF or NUL", v)
			}
		}
	}
	for i, name := range o.Delete {
		if err := checkHeaderName(p+".delete["+strconv.Itoa(i)+"]", name); err != nil {
			return err
		}
	}
	return nil
}

func checkHeaderName(p, name string) error {
	if !isToken(name) {
		return errAt(p, "%q: not a header name", name)
	}
	if why, ok := managedHeaders[http.CanonicalHeaderKey(name)]; ok {
		return errAt(p, "%q: the proxy manages this header (%s)", name, why)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// validateStripPrefix checks strip_path_prefix: a normal path of whole
// segments that reads the same escaped and unescaped, so it comes off
// both forms of a request's path alike.
func validateStripPrefix(p, s string) error {
	if s == "" {
		return nil
	}
	if !strings.HasPrefix(s, "/") {
		return errAt(p, "%q: must start with /", s)
	}
	t := strings.TrimSuffix(s, "/")
	if t == "" {
		return errAt(p, "%q: strips nothing; leave it unset", s)
	}
	if (&url.URL{Path: t}).EscapedPath() != t || strings.ContainsAny(t, "%?#;\\") {
		return errAt(p, "%q: only letters, digits and -._~!$&'()*+,=:@ in path segments", s)
	}
	for _, seg := range strings.Split(t[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return errAt(p, "%q: not a normal path (empty or dot segment)", s)
		}
	}
	return nil
}
