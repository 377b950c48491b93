package smartproxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/net/http/httpguts"

	"github.com/caddy-smartproxy/smartproxy/forward"
)

// errConnect is the cause of the 501 a CONNECT request gets.
var errConnect = errors.New("CONNECT is not proxied")

// errMethod is the cause of the 400 a request whose method is not a token
// gets. Go's HTTP/1 server refuses such a method itself, but its HTTP/2
// server (and HTTP/3's) take any :method that holds no CR, LF or NUL:
// "GET /admin" would go out to an HTTP/1.1 backend as the request line
// "GET /admin /path HTTP/1.1", which a lenient backend reads as a request
// for /admin that routing, limits and the cache never saw.
var errMethod = errors.New("method is not a token")

// errAsterisk refuses the asterisk-form request target ("*") on any
// method but OPTIONS (RFC 9112 §3.2.4); Go's servers take "GET *", which
// went out as "GET * HTTP/1.1", or "GET /prefix*" to a backend with a path.
var errAsterisk = errors.New(`refusing request target "*": only OPTIONS takes the asterisk form`)

// errQuery refuses a query holding a space (or another byte a request
// line cannot carry). Go's HTTP/1 server never sees one (a space ends
// the target), but its HTTP/2 server takes ":path /q?a=b HTTP/1.1", and
// the query goes out as it came: the request line
// "GET /q?a=b HTTP/1.1 HTTP/1.1".
var errQuery = errors.New("space or control byte in the query")

// checkQuery refuses a raw query with a byte at or below SP, or DEL.
func checkQuery(q string) error {
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("refusing query %q: %w", truncate(q, 256), errQuery)
		}
	}
	return nil
}

// checkMethod refuses a method that is not an RFC 9110 token.
func checkMethod(m string) error {
	if !httpguts.ValidHeaderFieldName(m) { // the grammar of a token
		return fmt.Errorf("refusing method %q: %w", truncate(m, 64), errMethod)
	}
	return nil
}

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
	if ep == "*" && r.Method != http.MethodOptions {
		return errAsterisk
	}
	if err := checkQuery(u.RawQuery); err != nil {
		return err
	}
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
