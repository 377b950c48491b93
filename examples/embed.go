// Package examples holds the runnable configs (the Caddyfile demo and the
// seed's config.yaml) and compiles config.yaml into the programs that
// import it, so cmd/proxy has the seed's default configuration without a
// file beside the binary.
package examples

import _ "embed"

// ConfigYAML is examples/config.yaml, the seed's configuration: the proxy
// on port 8080 in front of http://localhost:3001 (weight 1) and
// http://localhost:3002 (weight 2), with a health check, a rate limit and
// a response cache. It must not be modified.
//
//go:embed config.yaml
var ConfigYAML []byte
