package smartproxy

import (
	"errors"
	"fmt"

	"github.com/caddy-smartproxy/smartproxy/config"
)

// errDiscoveryNotWired refuses a config with a `discovery` section: the
// discovery package resolves and watches DNS, but the handler's pools do
// not yet take members that come and go, and a section that is accepted
// and then silently serves nothing would be worse than a clear refusal.
var errDiscoveryNotWired = errors.New("DNS discovery is not available in the handler yet: list the backends under backends")

// refuseDiscovery reports the first section of c that sets discovery.
func refuseDiscovery(c *config.Config) error {
	if c.Discovery != nil {
		return fmt.Errorf("discovery: %w", errDiscoveryNotWired)
	}
	for i, r := range c.Routes {
		if r.Discovery != nil {
			return fmt.Errorf("routes[%d].discovery: %w", i, errDiscoveryNotWired)
		}
	}
	return nil
}
