package yamladapter

import "github.com/caddy-smartproxy/smartproxy/config"

// Unknown keys are worded by the config package, so the JSON decoder, the
// Caddyfile directive and this adapter suggest the same key for the same
// typo.
var (
	unknownKey = config.UnknownKey
	nearest    = config.Nearest
	where      = config.Where
)
