package smartproxy

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// trustedProxy reports whether r's client is one of Caddy's
// trusted_proxies, whose X-Forwarded-* values are kept and extended.
func trustedProxy(r *http.Request) bool {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	return trusted
}
