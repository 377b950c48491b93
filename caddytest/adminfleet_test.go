package caddytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// Fleet-wide admin state (issue 20, part 2): Caddy processes sharing one
// real redis-server. A drain through one instance's admin API stops the
// traffic of every instance within a second; an instance that starts later
// reads the stored state; an instance whose subscription reconnects reads
// it again; ready and live weights travel the same way.

// instanceState returns a backend's status object in an instance's
// default route, through that instance's admin API.
func instanceState(t *testing.T, admin, url string) map[string]any {
	t.Helper()
	return apiBackend(t, apiRoute(t, apiStatusAt(t, admin), defaultRoute), url)
}

// postInstanceState posts a state change to an instance's admin API.
func postInstanceState(t *testing.T, admin, body string) map[string]any {
	t.Helper()
	resp, err := http.Post("http://"+admin+"/smartproxy/backends/state", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("POST %s to %s: %d %s", body, admin, resp.StatusCode, raw)
	}
	return out
}

// everywhere waits up to d until every instance says key is want for url,
// and returns how long it took.
func everywhere(t *testing.T, admins []string, url, key string, want any, d time.Duration) time.Duration {
	t.Helper()
	begin := time.Now()
	if !eventually(d, func() bool {
		for _, a := range admins {
			if instanceState(t, a, url)[key] != want {
				return false
			}
		}
		return true
	}) {
		for _, a := range admins {
			t.Logf("%s: %v", a, instanceState(t, a, url))
		}
		t.Fatalf("not every instance has %s %v for %s after %v", key, want, url, d)
	}
	return time.Since(begin)
}

// hitsThrough sends n GETs to each proxy and returns the backends' new hits.
func hitsThrough(t *testing.T, proxies []string, n int, bs ...*backend) []int64 {
	t.Helper()
	before := hitsOf(bs...)
	c := &http.Client{Timeout: 5 * time.Second}
	for _, p := range proxies {
		for i := range n {
			resp, err := c.Get(fmt.Sprintf("http://%s/f/%d", p, i))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET via %s: %d", p, resp.StatusCode)
			}
		}
	}
	after := hitsOf(bs...)
	for i := range after {
		after[i] -= before[i]
	}
	return after
}

// redisCLI runs redis-cli against r.
func redisCLI(t *testing.T, r *redistest.Server, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(r.Addr)
	out, err := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestFleetAdminState(t *testing.T) {
	redistest.LookPath(t, "redis-cli")
	r := redistest.Start(t)
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	handler := fmt.Sprintf(`{"handler": "smartproxy", "backends": [{"url": %q}, {"url": %q}],
		"load_balancer": {"algorithm": "weighted_round_robin"},
		"admin_state": {"store": "redis", "redis": {"address": %q}}}`, a.URL, b.URL, r.Addr)
	var proxies, admins []string
	for range 3 {
		p, ad := freeAddr(t), freeAddr(t)
		caddyProcessAdmin(t, p, ad, handler)
		proxies, admins = append(proxies, p), append(admins, ad)
	}
	if got := hitsThrough(t, proxies, 10, a, b); got[0] != 15 || got[1] != 15 {
		t.Fatalf("before any change: a %d, b %d of 30, want 15 each", got[0], got[1])
	}

	// Drain through instance 1: every instance within a second.
	out := postInstanceState(t, admins[0], fmt.Sprintf(`{"url": %q, "state": "drain"}`, a.URL))
	if out["fleet"] != "published" {
		t.Fatalf("the drain was not published: %v", out)
	}
	took := everywhere(t, admins, a.URL, "admin_state", "drain", time.Second)
	t.Logf("drain on instance 1 applied by all three in %v", took)
	if got := hitsThrough(t, proxies, 10, a, b); got[0] != 0 {
		t.Fatalf("after the drain a got %d requests through the three instances", got[0])
	}

	// An instance that starts now reads the stored state before it serves.
	p4, ad4 := freeAddr(t), freeAddr(t)
	caddyProcessAdmin(t, p4, ad4, handler)
	if st := instanceState(t, ad4, a.URL); st["admin_state"] != "drain" || st["available"] != false {
		t.Fatalf("an instance started after the drain has %v", st)
	}
	if got := hitsThrough(t, []string{p4}, 10, a, b); got[0] != 0 {
		t.Fatalf("the new instance sent a %d requests", got[0])
	}
	admins = append(admins, ad4)
	proxies = append(proxies, p4)

	// A live weight through instance 2 reaches the others.
	postInstanceState(t, admins[1], fmt.Sprintf(`{"url": %q, "weight": 3}`, b.URL))
	everywhere(t, admins, b.URL, "weight", float64(3), time.Second)

	// The stored state changes without a message (as if published while
	// the instances were cut off), then their subscriptions drop: each
	// reconnects and reads the hash again.
	field := defaultRoute + "\n" + a.URL
	// Many other routes' backends in the hash too: the whole hash is one
	// reply, which the Redis reply guard must take.
	args := []string{"HSET", "smartproxy:a:state"}
	for i := range 2000 {
		args = append(args, fmt.Sprintf("sp|*|other\nhttp://10.0.%d.%d:80", i/250, i%250), `{"state":"drain"}`)
	}
	redisCLI(t, r, args...)
	redisCLI(t, r, "HSET", "smartproxy:a:state", field, `{"state":"maint"}`)
	time.Sleep(300 * time.Millisecond)
	if st := instanceState(t, admins[0], a.URL); st["admin_state"] != "drain" {
		t.Fatalf("an instance saw a change nobody published: %v", st)
	}
	if n := redisCLI(t, r, "CLIENT", "KILL", "TYPE", "pubsub"); n == "0" {
		t.Fatal("no subscriber to disconnect")
	}
	everywhere(t, admins, a.URL, "admin_state", "maint", 5*time.Second)

	// A hostile entry in Redis is ignored, not applied: b's field no
	// longer names a valid state, so b is ready at its configured weight.
	redisCLI(t, r, "HSET", "smartproxy:a:state", defaultRoute+"\n"+b.URL, `{"state":"maint","weight":-5}`)
	redisCLI(t, r, "PUBLISH", "smartproxy:a:changes", `{"from":"x","field":"`+defaultRoute+`\n`+b.URL+`","entry":{"state":"explode"}}`)
	redisCLI(t, r, "CLIENT", "KILL", "TYPE", "pubsub")
	// Until it has resubscribed and read the hash again, an instance
	// still has b's live weight of 3; then b is back at its configured
	// weight, or (were the entry applied) in maintenance.
	everywhere(t, admins, b.URL, "weight", float64(1), 5*time.Second)
	for _, ad := range admins {
		if st := instanceState(t, ad, b.URL); st["admin_state"] != "ready" || st["weight"] != float64(1) {
			t.Fatalf("a malformed entry was applied on %s: %v", ad, st)
		}
	}

	// Ready through instance 3: traffic returns everywhere.
	postInstanceState(t, admins[2], fmt.Sprintf(`{"url": %q, "state": "ready"}`, a.URL))
	everywhere(t, admins, a.URL, "admin_state", "ready", time.Second)
	if got := hitsThrough(t, proxies, 8, a, b); got[0] != 16 || got[1] != 16 {
		t.Fatalf("after ready: a %d, b %d of 32, want 16 each", got[0], got[1])
	}
}
