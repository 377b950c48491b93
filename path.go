package smartproxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/caddy-smartproxy/smartproxy/forward"
)

// errConnect is the cause of the 501 a CONNECT request gets.
var errConnect = errors.New("CONNECT is not proxied")

// allowedMethods is the Allow value of that 501 (each response gets a slice
// of its own: Caddy's header replace rewrites values in place).
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// cleanRequestPath replaces r's path with its normal form (see
// forward.CleanPath), so that the router, rate limits, cache keys and the
// path sent to the backend all read the same bytes. A path that is
// already normal (nearly every one) is left alone without allocating.
func cleanRequestPath(r *http.Request) error {
	u := r.URL
	ep := u.EscapedPath()
	clean, err := forward.CleanPath(ep)
	if err != nil {
		return fmt.Errorf("refusing path %q: %w", truncate(ep, 256), err)
	}
	if clean == ep {
		return nil
	}
	dec, err := url.PathUnescape(clean)
	if err != nil {
		return fmt.Errorf("refusing path %q: %w", truncate(ep, 256), forward.ErrPathEncoding)
	}
	u.Path, u.RawPath = dec, ""
	if u.EscapedPath() != clean {
		u.RawPath = clean
	}
	r.RequestURI = u.RequestURI()
	return nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
