package config

import "testing"

// A route takes backends and discovery from the top level together, or
// neither: a route with backends of its own does not also get the top
// level's discovered ones, and one with discovery of its own does not get
// the top level's static backends.
func TestRouteInheritsBackendsAndDiscoveryTogether(t *testing.T) {
	top := &Discovery{DNS: &DNSDiscovery{Name: "top.internal"}}
	own := &Discovery{DNS: &DNSDiscovery{Name: "own.internal"}}
	c := Config{
		Section: Section{Backends: []Backend{{URL: "http://a"}}, Discovery: top},
		Routes: []Route{
			{Path: "/inherit"},
			{Path: "/static", Section: Section{Backends: []Backend{{URL: "http://b"}}}},
			{Path: "/dns", Section: Section{Discovery: own}},
		},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if r := c.Route(0); len(r.Backends) != 1 || r.Backends[0].URL != "http://a" || r.Discovery != top {
		t.Fatalf("inheriting route: %+v", r)
	}
	if r := c.Route(1); len(r.Backends) != 1 || r.Backends[0].URL != "http://b" || r.Discovery != nil {
		t.Fatalf("route with static backends: %+v", r)
	}
	if r := c.Route(2); len(r.Backends) != 0 || r.Discovery != own {
		t.Fatalf("route with its own discovery: %+v", r)
	}
}

func TestDNSDiscoverySettings(t *testing.T) {
	d := DNSDiscovery{Name: "a", Type: "SRV", Scheme: "h2c", Refresh: 5e9, Timeout: 1e9, Resolvers: []string{"10.0.0.1"}}
	s := d.Settings()
	if s.Name != "a" || s.Type != "SRV" || s.Scheme != "h2c" || s.Refresh != 5e9 || s.Timeout != 1e9 || s.Resolvers[0] != "10.0.0.1" {
		t.Fatalf("settings %+v", s)
	}
}
