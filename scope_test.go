package smartproxy

import (
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestRouteHosts(t *testing.T) {
	r := &caddyhttp.Route{MatcherSets: caddyhttp.MatcherSets{
		{caddyhttp.MatchHost{"B.example", "a.example"}},
		{caddyhttp.MatchPath{"/x"}, &caddyhttp.MatchHost{"a.example"}},
	}}
	if got := routeHosts(r); got != "a.example,b.example" {
		t.Fatalf("routeHosts = %q", got)
	}
	if got := routeHosts(&caddyhttp.Route{}); got != "*" {
		t.Fatalf("routeHosts of a catch-all = %q", got)
	}
}

func TestScopeQualify(t *testing.T) {
	if got := (scope{}).qualify("default"); got != "default" {
		t.Fatalf("unscoped = %q", got)
	}
	if got := (scope{server: "srv0", site: "a.example"}).qualify("default"); got != "srv0|a.example|default" {
		t.Fatalf("scoped = %q", got)
	}
}

func TestProvisioningRoute(t *testing.T) {
	rl := caddyhttp.RouteList{
		{Handlers: []caddyhttp.MiddlewareHandler{nil}},
		{HandlersRaw: []json.RawMessage{[]byte(`{}`)}},
		{HandlersRaw: []json.RawMessage{[]byte(`{}`)}},
	}
	if got := provisioning(rl); got != &rl[1] {
		t.Fatal("the route being provisioned is the first whose handlers are still raw")
	}
}
