package smartproxy

import (
	"errors"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/config"
)

func TestRefuseDiscovery(t *testing.T) {
	c := config.Config{Routes: []config.Route{{}, {}}}
	if err := refuseDiscovery(&c); err != nil {
		t.Fatalf("no discovery: %v", err)
	}
	c.Routes[1].Discovery = &config.Discovery{}
	if err := refuseDiscovery(&c); !errors.Is(err, errDiscoveryNotWired) || err.Error()[:19] != "routes[1].discovery" {
		t.Fatalf("route discovery: %v", err)
	}
	c.Discovery = &config.Discovery{}
	if err := refuseDiscovery(&c); !errors.Is(err, errDiscoveryNotWired) || err.Error()[:10] != "discovery:" {
		t.Fatalf("top-level discovery: %v", err)
	}
}
