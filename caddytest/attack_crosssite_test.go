package caddytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// internalAddr is the second server of the cross-site tests: an internal
// listener next to the public proxyAddr.
const internalAddr = "127.0.0.1:9081"

// namedCacheable answers every request with its name and path, cacheable
// for a minute.
func namedCacheable(name string) func(*advRequest) *advReply {
	return func(r *advRequest) *advReply {
		body := name + ":" + r.Target
		return &advReply{Raw: fmt.Sprintf("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: %d\r\n\r\n%s", len(body), body)}
	}
}

// Two servers whose smartproxy handlers are configured alike (each a
// top-level default route with the same cache settings) but proxy to
// different backends. Their caches are their own: a request to the public
// server carrying the internal site's Host must not fill a cache that the
// internal server then answers from. A purge of everything clears both;
// the status API lists both routes, each told apart from the other.
func TestAttackCrossServerCacheIsShared(t *testing.T) {
	pub, internal := newAdvBackend(t), newAdvBackend(t)
	pub.setScript(namedCacheable("public"))
	internal.setScript(namedCacheable("internal"))
	handler := func(b *advBackend) map[string]any {
		return map[string]any{"backends": []map[string]any{{"url": b.URL}}, "cache": map[string]any{}}
	}
	startServers(t, map[string]any{
		"public":   plainServer(proxyAddr, spRoute(handler(pub), nil)),
		"internal": plainServer(internalAddr, spRoute(handler(internal), nil)),
	})
	const host = "internal.example"
	if body := fetch(t, proxyAddr, "/page", host); body != "public:/page" {
		t.Fatalf("public server: %q", body)
	}
	if body := fetch(t, internalAddr, "/page", host); body != "internal:/page" {
		t.Errorf("the internal server answered %q for its own page, want %q: the public server's answer was stored in its cache", body, "internal:/page")
	}

	// Both caches hold /kept; a purge of everything empties both.
	fetch(t, proxyAddr, "/kept", host)
	fetch(t, internalAddr, "/kept", host)
	before := len(pub.find("/kept")) + len(internal.find("/kept"))
	purge(t, `{"all": true}`)
	fetch(t, proxyAddr, "/kept", host)
	fetch(t, internalAddr, "/kept", host)
	if got := len(pub.find("/kept")) + len(internal.find("/kept")) - before; got != 2 {
		t.Errorf("after purging everything, %d of the 2 servers went back to their backend for /kept", got)
	}

	// The status API lists both cached routes, distinguishably.
	resp, err := http.Get("http://localhost:2999/smartproxy/status")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Routes []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var ids []string
	for _, rt := range doc.Routes {
		if rt["cache"] != nil {
			ids = append(ids, routeIdentity(rt))
		}
	}
	sort.Strings(ids)
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Errorf("the status API lists the cached routes as %q: want two, told apart (by server or site)", ids)
	}
}

// routeIdentity is what names a route in a status document: its string
// fields (name, and whatever server or site field there is), not its
// backends or counters.
func routeIdentity(rt map[string]any) string {
	var parts []string
	for k, v := range rt {
		if s, ok := v.(string); ok && k != "algorithm" {
			parts = append(parts, k+"="+s)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Two sites on one server, each with a global rate limit of the same
// settings on its default route: draining one site's bucket leaves the
// other's whole.
func TestAttackCrossSiteGlobalRateLimitIsShared(t *testing.T) {
	b := newAdvBackend(t)
	handler := func() map[string]any {
		return map[string]any{"backends": []map[string]any{{"url": b.URL}},
			"rate_limit": map[string]any{"requests_per_second": 0.01, "burst": 3, "global": true}}
	}
	startServers(t, map[string]any{"sp": plainServer(proxyAddr,
		spRoute(handler(), []string{"a.example"}),
		spRoute(handler(), []string{"b.example"}))})
	c := newClient()
	for i := range 4 {
		code, _ := get(t, c, "/", "Host", "a.example")
		if want := map[bool]int{true: 200, false: 429}[i < 3]; code != want {
			t.Fatalf("site a, request %d: %d, want %d", i, code, want)
		}
	}
	if code, _ := get(t, c, "/", "Host", "b.example"); code != 200 {
		t.Errorf("site b's first request: %d, want 200: site a drained site b's bucket", code)
	}
}

// fetch asks the server on addr for path on host over a raw connection
// and returns the body.
func fetch(t *testing.T, addr, path, host string) string {
	t.Helper()
	rs := rawDo(t, addr, http.MethodGet, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n", 1)
	if len(rs) == 0 {
		t.Fatalf("GET %s from %s: no answer", path, addr)
	}
	return rs[0].Body
}
