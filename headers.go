package smartproxy

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-smartproxy/smartproxy/forward"
)

// trustedProxy reports whether r's client is one of Caddy's
// trusted_proxies, whose X-Forwarded-* values are kept and extended.
func trustedProxy(r *http.Request) bool {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	return trusted
}

// removeHopHeaders and upgradeType keep their old names for cache.go and
// interim.go, until those files call package forward themselves.
func removeHopHeaders(h http.Header) { forward.RemoveHopHeaders(h) }

func upgradeType(h http.Header) string { return forward.UpgradeType(h) }
