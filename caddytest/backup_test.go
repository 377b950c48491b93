package caddytest

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackupBackends: a backup gets no request while a primary is
// available, takes every request while no primary is (here: their health
// checks fail), and hands back as soon as one primary is healthy again;
// the status says which backends are backups and when the backups serve.
func TestBackupBackends(t *testing.T) {
	type primary struct {
		*backend
		down atomic.Bool
	}
	mk := func(name string) *primary {
		p := &primary{}
		p.backend = newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" && p.down.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte(name))
		})
		return p
	}
	p1, p2 := mk("p1"), mk("p2")
	bk := newBackend(t, "bk", nil)
	start(t, map[string]any{
		"backends": []map[string]any{{"url": p1.URL}, {"url": bk.URL, "backup": true}, {"url": p2.URL}},
		"health_check": map[string]any{"path": "/health", "interval": "100ms", "timeout": "90ms",
			"healthy_threshold": 1, "unhealthy_threshold": 1},
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
	if s := served(30); s["bk"] != 0 || s["p1"] == 0 || s["p2"] == 0 {
		t.Fatalf("primaries up: %v, want p1 and p2 only", s)
	}
	st := readDiscoveryStatus(t)
	if b := st.Routes[0].Backends; len(b) != 3 || b[0].Backup || !b[1].Backup || b[2].Backup || st.Routes[0].OnBackups {
		t.Fatalf("status %+v: want only the second backend a backup, not serving", st.Routes[0])
	}

	p1.down.Store(true)
	p2.down.Store(true)
	if !eventually(10*time.Second, func() bool { return served(5)["bk"] == 5 }) {
		t.Fatalf("every primary down, yet: %v", served(10))
	}
	if !readDiscoveryStatus(t).Routes[0].OnBackups {
		t.Fatal("the status does not say the backups serve")
	}

	p2.down.Store(false)
	if !eventually(10*time.Second, func() bool { return served(5)["p2"] == 5 }) {
		t.Fatalf("a primary is back, yet: %v", served(10))
	}
	if s := served(30); s["p2"] != 30 {
		t.Fatalf("with one primary back: %v, want p2 only", s)
	}
}

// TestStatusPageShowsBackupsAndDiscovery: in headless Chromium the status
// page marks a backup backend and shows the route's DNS discovery with
// its failing lookups.
func TestStatusPageShowsBackupsAndDiscovery(t *testing.T) {
	if chromium() == "" {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run does this)")
	}
	dns := newDNSServer(t)
	bs, port := samePortBackends(t, 1)
	dns.setA("page.test", bs[0].ip)
	primary, bk := newBackend(t, "primary", nil), newBackend(t, "bk", nil)
	newTesterJSON(t, fmt.Sprintf(`{"handler": "subroute", "routes": [
		{"match": [{"path": ["/_status/*"]}], "handle": [{"handler": "smartproxy_status"}]},
		{"handle": [{"handler": "smartproxy", "backends": [{"url": %q}, {"url": %q, "backup": true}],
			"discovery": {"dns": {"name": "page.test", "port": %d, "refresh": "1s", "timeout": "200ms", "resolvers": [%q]}}}]}]}`,
		primary.URL, bk.URL, port, dns.addr))
	dns.fail(true)
	if !eventually(10*time.Second, func() bool {
		d := readDiscoveryStatus(t).Routes[0].Discovery
		return d != nil && d.LastError != ""
	}) {
		t.Fatal("the failing lookup never showed in the status")
	}
	dom := browse(t, proxyURL+"/_status/", 1280, 900, "")
	if row := domRow(t, dom, bk.URL); !strings.Contains(row, ">backup<") {
		t.Errorf("the backup's row does not say backup: %s", row)
	}
	if row := domRow(t, dom, primary.URL); strings.Contains(row, ">backup<") {
		t.Errorf("the primary's row says backup: %s", row)
	}
	for _, want := range []string{`data-k="discovery"`, "page.test.", "1 backends", `data-k="discovery_error"`, "keeping the last good set"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", dom)
	}
}
