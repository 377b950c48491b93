package smartproxy

import (
	"encoding/json"

	"github.com/caddy-smartproxy/smartproxy/config"
)

// UnmarshalJSON decodes the handler's JSON config with the strict,
// path-aware decoder the yaml adapter's rules follow (config.DecodeJSON),
// in place of encoding/json, which Caddy would otherwise use: an unknown
// key suggests the nearest known one (`unknown key "intervl" in
// health_check (did you mean "interval"?)`), a value of the wrong type
// names its key path and the value as written (`backends[1].weight: wrong
// type: want an integer, got string "2"`), and a duplicate key is an
// error. Caddy calls it through caddy.StrictUnmarshalJSON when it loads
// the module, after taking out the "handler" key; its error reaches the
// admin API's answer to POST /load, and the running config stays.
func (h *Handler) UnmarshalJSON(b []byte) error {
	return config.DecodeJSON(b, &h.Config)
}

// Interface guards
var _ json.Unmarshaler = (*Handler)(nil)
