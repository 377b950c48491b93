package caddytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// dnsBackend is a backend on its own loopback address (A records give
// addresses, and discovery one port for all), which remembers the path of
// its first request and holds /slow requests until released.
type dnsBackend struct {
	*backend
	ip        string
	firstPath atomic.Pointer[string]
	slow      atomic.Int64 // /slow requests waiting
	release   chan struct{}
	// releaseAll ends the /slow requests of every backend of the set.
	releaseAll func()
}

// samePortBackends starts a backend on each of 127.0.0.2 .. 127.0.0.(n+1),
// all on one port, and returns them and the port.
func samePortBackends(t *testing.T, n int) ([]*dnsBackend, int) {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for i := 1; i < n && err == nil; i++ {
			var ln net.Listener
			if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", i+2, port)); err == nil {
				lns = append(lns, ln)
			}
		}
		if err != nil { // the port is taken on another address: try another
			for _, ln := range lns {
				ln.Close()
			}
			continue
		}
		out := make([]*dnsBackend, n)
		release := make(chan struct{})
		var once sync.Once
		releaseAll := func() { once.Do(func() { close(release) }) }
		t.Cleanup(releaseAll)
		for i, ln := range lns {
			db := &dnsBackend{ip: fmt.Sprintf("127.0.0.%d", i+2), release: release, releaseAll: releaseAll}
			name := fmt.Sprintf("d%d", i+1)
			db.backend = &backend{name: name}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p := r.URL.Path
				db.firstPath.CompareAndSwap(nil, &p)
				if p == "/health" {
					return
				}
				db.hits.Add(1)
				if p == "/slow" {
					db.slow.Add(1)
					<-db.release
				}
				io.WriteString(w, name)
			}))
			srv.Listener.Close()
			srv.Listener = ln
			srv.Start()
			t.Cleanup(srv.Close)
			db.Server = srv
			out[i] = db
		}
		return out, port
	}
	t.Fatal("no port free on every loopback address")
	return nil, 0
}

// discoveryStatus is the part of the status document these tests read.
type discoveryStatus struct {
	Routes []struct {
		Name     string `json:"name"`
		Backends []struct {
			URL      string `json:"url"`
			Requests uint64 `json:"requests"`
			Backup   bool   `json:"backup"`
			Health   *struct {
				State string `json:"state"`
			} `json:"health"`
		} `json:"backends"`
		OnBackups bool `json:"on_backups"`
		Discovery *struct {
			Name                string     `json:"name"`
			Backends            int        `json:"backends"`
			Lookups             uint64     `json:"lookups"`
			Failures            uint64     `json:"failures"`
			ConsecutiveFailures int        `json:"consecutive_failures"`
			LastSuccess         *time.Time `json:"last_success"`
			LastError           string     `json:"last_error"`
		} `json:"discovery"`
	} `json:"routes"`
}

func readDiscoveryStatus(t *testing.T) discoveryStatus {
	t.Helper()
	var st discoveryStatus
	if err := json.Unmarshal(adminGet(t, "/smartproxy/status"), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Routes) != 1 {
		t.Fatalf("status has %d routes, want 1", len(st.Routes))
	}
	return st
}

// backendURLs are the URLs of the route's backends in the status.
func (st discoveryStatus) backendURLs() []string {
	var out []string
	for _, b := range st.Routes[0].Backends {
		out = append(out, b.URL)
	}
	return out
}

// loadJSON replaces the running config with handler h (as start builds it).
func loadJSON(t *testing.T, h map[string]any) {
	t.Helper()
	h["handler"] = "smartproxy"
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://localhost:2999/load", "application/json", strings.NewReader(serverJSON(string(b))))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("load refused: %s", body)
	}
}

// TestDNSDiscovery runs a route whose backends come from a real DNS server
// on loopback whose answers change mid-run: a backend that appears is
// health-checked, then gets traffic; one that disappears gets no new
// request while its request in flight finishes; a failing DNS server keeps
// the last good set (status, metrics); a reload keeps the watcher, the
// backends' totals and their health.
func TestDNSDiscovery(t *testing.T) {
	dns := newDNSServer(t)
	bs, port := samePortBackends(t, 3)
	d1, d2, d3 := bs[0], bs[1], bs[2]
	dns.setA("api.test", d1.ip, d2.ip)
	cfg := func(timeout string) map[string]any {
		return map[string]any{
			"timeout": timeout,
			"discovery": map[string]any{"dns": map[string]any{
				"name": "api.test", "port": port, "refresh": "1s", "timeout": "500ms", "resolvers": []string{dns.addr}}},
			"health_check": map[string]any{"path": "/health", "interval": "200ms", "timeout": "150ms",
				"initial_state": "unhealthy", "healthy_threshold": 1},
		}
	}
	start(t, cfg("10s"))
	client := newClient()
	// served counts the answers to n requests by backend name; a request
	// that fails counts under its status.
	served := func(n int) map[string]int {
		seen := map[string]int{}
		for range n {
			code, body := get(t, client, "/")
			if code != http.StatusOK {
				body = fmt.Sprint(code)
			}
			seen[body]++
		}
		return seen
	}
	// Until the first health checks pass, the backends (initially
	// unhealthy) are not used.
	if !eventually(10*time.Second, func() bool { s := served(6); return s["d1"] > 0 && s["d2"] > 0 }) {
		t.Fatalf("the two discovered backends do not both serve: %v", served(6))
	}

	// A backend appears: it is probed before its first request, then serves.
	dns.setA("api.test", d1.ip, d2.ip, d3.ip)
	if !eventually(10*time.Second, func() bool { return served(6)["d3"] > 0 }) {
		t.Fatalf("the backend that appeared in DNS gets no traffic; status %+v", readDiscoveryStatus(t))
	}
	if p := d3.firstPath.Load(); p == nil || *p != "/health" {
		t.Fatalf("the new backend's first request was %v, want the health check", p)
	}

	// A backend with a request in flight disappears: drained.
	results := make(chan string, 10)
	var wg sync.WaitGroup
	for i := 0; i < 10 && d1.slow.Load() == 0; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := get(t, client, "/slow")
			results <- fmt.Sprint(code, " ", body)
		}()
		eventually(2*time.Second, func() bool { return d1.slow.Load()+d2.slow.Load()+d3.slow.Load() > int64(i) })
	}
	if d1.slow.Load() == 0 {
		t.Fatal("no slow request reached d1")
	}
	dns.setA("api.test", d2.ip, d3.ip)
	if !eventually(10*time.Second, func() bool { return len(readDiscoveryStatus(t).backendURLs()) == 2 }) {
		t.Fatalf("the removed backend stays: %v", readDiscoveryStatus(t).backendURLs())
	}
	before := d1.hits.Load()
	if s := served(30); s["d2"]+s["d3"] != 30 || d1.hits.Load() != before {
		t.Fatalf("a removed backend got new requests: %v", s)
	}
	d1.releaseAll()
	wg.Wait()
	close(results)
	onD1 := 0
	for r := range results {
		if !strings.HasPrefix(r, "200 ") {
			t.Fatalf("a request in flight during the change failed: %s", r)
		}
		if r == "200 d1" {
			onD1++
		}
	}
	if onD1 == 0 {
		t.Fatal("the request in flight on the removed backend did not finish with it")
	}

	// The DNS server fails: the last good set stays, and it shows.
	dns.fail(true)
	var st discoveryStatus
	if !eventually(10*time.Second, func() bool {
		st = readDiscoveryStatus(t)
		return st.Routes[0].Discovery != nil && st.Routes[0].Discovery.ConsecutiveFailures > 0
	}) {
		t.Fatalf("failing lookups do not show in the status: %+v", st.Routes[0].Discovery)
	}
	ds := st.Routes[0].Discovery
	if ds.Backends != 2 || ds.LastError == "" || ds.LastSuccess == nil || len(st.backendURLs()) != 2 {
		t.Fatalf("after a failed lookup: %+v, backends %v; want the last good 2 and the error", ds, st.backendURLs())
	}
	if s := served(10); s["d2"]+s["d3"] != 10 {
		t.Fatalf("while DNS fails: %v", s)
	}
	if m := scrape(t); sample(t, m, "caddy_smartproxy_discovery_lookups_total", `result="error"`) < 1 ||
		sample(t, m, "caddy_smartproxy_discovery_backends") != 2 {
		t.Fatalf("discovery metrics: errors %v, backends %v", sample(t, m, "caddy_smartproxy_discovery_lookups_total", `result="error"`),
			sample(t, m, "caddy_smartproxy_discovery_backends"))
	}
	dns.fail(false)

	// A reload keeps the watcher (its lookups go on counting), the
	// backends' totals and their health: no new backend starts unhealthy.
	st = readDiscoveryStatus(t)
	lookups := st.Routes[0].Discovery.Lookups
	totals := map[string]uint64{}
	for _, b := range st.Routes[0].Backends {
		totals[b.URL] = b.Requests
	}
	loadJSON(t, cfg("9s"))
	st = readDiscoveryStatus(t)
	if got := st.Routes[0].Discovery.Lookups; got < lookups {
		t.Fatalf("lookups %d after the reload, %d before: the watcher started afresh", got, lookups)
	}
	for _, b := range st.Routes[0].Backends {
		if b.Requests < totals[b.URL] || totals[b.URL] == 0 {
			t.Fatalf("%s: %d requests after the reload, %d before", b.URL, b.Requests, totals[b.URL])
		}
		if b.Health == nil || b.Health.State != "healthy" {
			t.Fatalf("%s: health %+v right after the reload, want it kept healthy", b.URL, b.Health)
		}
	}
	if s := served(10); s["d2"]+s["d3"] != 10 {
		t.Fatalf("after the reload: %v", s)
	}

	// A config without the discovery lets go of the watcher: its
	// goroutine stops, and with it the lookups (1s apart while it ran).
	loadJSON(t, map[string]any{"backends": backends(d2.backend)})
	time.Sleep(500 * time.Millisecond) // a lookup under way when the load came may still land
	q := dns.queries.Load()
	time.Sleep(2500 * time.Millisecond)
	if n := dns.queries.Load() - q; n != 0 {
		t.Fatalf("%d DNS queries after the last config with the discovery left", n)
	}
}

// TestDNSDiscoverySRV: SRV records give ports and weights, a target of a
// later priority is a backup, a changed weight takes effect while the
// backend keeps its totals, and a backup whose betters are gone serves.
func TestDNSDiscoverySRV(t *testing.T) {
	dns := newDNSServer(t)
	s1, s2, s3 := newBackend(t, "s1", nil), newBackend(t, "s2", nil), newBackend(t, "s3", nil)
	port := func(b *backend) uint16 { return uint16(b.Listener.Addr().(*net.TCPAddr).Port) }
	dns.setA("host.test", "127.0.0.1")
	dns.setSRV("_api._tcp.test", srvRecord{"host.test", port(s1), 10, 3}, srvRecord{"host.test", port(s2), 10, 1},
		srvRecord{"host.test", port(s3), 20, 1})
	start(t, map[string]any{
		"load_balancer": map[string]any{"algorithm": "weighted_round_robin"},
		"discovery": map[string]any{"dns": map[string]any{
			"name": "_api._tcp.test", "type": "SRV", "refresh": "1s", "timeout": "500ms", "resolvers": []string{dns.addr}}},
	})
	client := newClient()
	served := func(n int) map[string]int {
		seen := map[string]int{}
		for range n {
			_, body := get(t, client, "/")
			seen[body]++
		}
		return seen
	}
	byURL := func() map[string]int {
		out := map[string]int{}
		for _, b := range readDiscoveryStatus(t).Routes[0].Backends {
			n := int(b.Requests)
			if b.Backup {
				n = -1 - n
			}
			out[b.URL] = n
		}
		return out
	}
	if s := served(40); s["s1"] != 30 || s["s2"] != 10 {
		t.Fatalf("weights 3:1 from SRV, priority 20 a backup: %v", s)
	}
	if st := byURL(); st[s3.URL] != -1 || st[s1.URL] < 30 {
		t.Fatalf("status by URL (negative: a backup) %v", st)
	}
	before := byURL()[s1.URL]

	dns.setSRV("_api._tcp.test", srvRecord{"host.test", port(s1), 10, 1}, srvRecord{"host.test", port(s2), 10, 1},
		srvRecord{"host.test", port(s3), 20, 1})
	if !eventually(10*time.Second, func() bool { s := served(8); return s["s1"] == 4 && s["s2"] == 4 }) {
		t.Fatalf("after the weight change: %v", served(8))
	}
	if got := byURL()[s1.URL]; got < before+4 {
		t.Fatalf("s1's totals after its weight changed: %d, before %d", got, before)
	}

	dns.setSRV("_api._tcp.test", srvRecord{"host.test", port(s3), 20, 1})
	if !eventually(10*time.Second, func() bool { return served(4)["s3"] == 4 }) {
		t.Fatalf("only the priority-20 target left: %v", served(4))
	}
	if st := byURL(); len(st) != 1 || st[s3.URL] < 4 {
		t.Fatalf("status %v: want s3 alone, a primary", st)
	}
}

// TestDNSDiscoveryStartsWhileDNSFails: a config whose DNS fails at load is
// still loaded (a failing DNS server must not block a deploy); its route
// answers 503 until a lookup succeeds, and then serves.
func TestDNSDiscoveryStartsWhileDNSFails(t *testing.T) {
	dns := newDNSServer(t)
	bs, port := samePortBackends(t, 1)
	dns.setA("late.test", bs[0].ip)
	dns.fail(true)
	start(t, map[string]any{"discovery": map[string]any{"dns": map[string]any{
		"name": "late.test", "port": port, "refresh": "1s", "timeout": "200ms", "resolvers": []string{dns.addr}}}})
	client := newClient()
	if code, _ := get(t, client, "/"); code != http.StatusServiceUnavailable {
		t.Fatalf("with no answer yet: %d, want 503", code)
	}
	if d := readDiscoveryStatus(t).Routes[0].Discovery; d == nil || d.LastError == "" || d.LastSuccess != nil {
		t.Fatalf("status before any good lookup: %+v", d)
	}
	dns.fail(false)
	if !eventually(10*time.Second, func() bool { code, body := get(t, client, "/"); return code == 200 && body == "d1" }) {
		t.Fatal("the route does not serve once DNS answers")
	}
}
