package smartproxy

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"golang.org/x/net/http/httpguts"

	"github.com/caddy-smartproxy/smartproxy/forward"
)

// trustedProxy reports whether r's client is one of Caddy's
// trusted_proxies, whose X-Forwarded-* values are kept and extended.
func trustedProxy(r *http.Request) bool {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	return trusted
}

// sendableTrailer reports whether a backend's trailer field may go to the
// client: permitted as a trailer and named by a token (Go's chunked reader
// keeps names with a space, as its head parser does: see
// forward.DropInvalidNames). Checked only for answers that have trailers.
func sendableTrailer(name string) bool {
	return !forward.ForbiddenTrailer(name) && httpguts.ValidHeaderFieldName(name)
}
