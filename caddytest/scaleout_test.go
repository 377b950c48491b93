package caddytest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// caddyProcess runs this test binary as a Caddy with the given handler JSON
// on addr (see TestMain) and waits until it answers.
func caddyProcess(t *testing.T, addr, handler string) {
	t.Helper()
	caddyProcessAdmin(t, addr, "", handler)
}

// caddyProcessAdmin is caddyProcess with the admin API listening on admin
// ("": no admin API).
func caddyProcessAdmin(t *testing.T, addr, admin, handler string) {
	t.Helper()
	adminJSON := `{"disabled": true}`
	if admin != "" {
		adminJSON = fmt.Sprintf(`{"listen": %q}`, admin)
	}
	startCaddyProcess(t, fmt.Sprintf(`{"admin": %s,
		"logging": {"logs": {"default": {"level": "ERROR"}}},
		"apps": {"http": {"servers": {"sp": {"listen": [%q], "automatic_https": {"disable": true},
			"routes": [{"handle": [%s]}]}}}}}`, adminJSON, addr, handler), os.Environ())
	if !eventually(20*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}) {
		t.Fatalf("caddy on %s did not start", addr)
	}
}

// startCaddyProcess runs this test binary as a Caddy with the JSON config
// cfg (see TestMain) and the environment env, until the test ends.
func startCaddyProcess(t *testing.T, cfg string, env []string) *exec.Cmd {
	t.Helper()
	return startCaddyProcessTo(t, cfg, env, nil)
}

// startCaddyProcessTo is startCaddyProcess with the process's stderr
// going to stderr (nil: discarded).
func startCaddyProcessTo(t *testing.T, cfg string, env []string, stderr *os.File) *exec.Cmd {
	t.Helper()
	file := filepath.Join(t.TempDir(), "caddy.json")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(env, "SMARTPROXY_TEST_CADDY_CONFIG="+file, "HOME="+t.TempDir())
	if stderr != nil {
		cmd.Stderr = stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// spreadLoad sends GETs round robin to the instances at about perSecond
// each for d, and returns how many were admitted (200) and refused (429),
// and the time it took.
func spreadLoad(t *testing.T, addrs []string, perSecond int, d time.Duration) (ok, limited int64, took time.Duration) {
	t.Helper()
	var okN, limN, other atomic.Int64
	var wg sync.WaitGroup
	begin := time.Now()
	for _, addr := range addrs {
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &http.Client{Timeout: 5 * time.Second}
				tick := time.NewTicker(time.Second * 2 / time.Duration(perSecond))
				defer tick.Stop()
				for i := 0; time.Since(begin) < d && i < perSecond*int(d/time.Second+1); i++ {
					<-tick.C
					resp, err := c.Get(fmt.Sprintf("http://%s/w%d", addr, w))
					if err != nil {
						other.Add(1)
						continue
					}
					resp.Body.Close()
					switch resp.StatusCode {
					case 200:
						okN.Add(1)
					case 429:
						limN.Add(1)
					default:
						other.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	if other.Load() > 0 {
		t.Errorf("%d requests neither admitted nor refused", other.Load())
	}
	return okN.Load(), limN.Load(), time.Since(begin)
}

func TestScaleOutSharedLimitThroughRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 8 s of load")
	}
	redis := redistest.Start(t)
	b := newBackend(t, "b", nil)
	limit := func(store string) string {
		rl := `"requests_per_second": 30, "burst": 30, "global": true`
		if store == "redis" {
			rl += fmt.Sprintf(`, "store": "redis", "redis": {"address": %q}`, redis.Addr)
		}
		return fmt.Sprintf(`{"handler": "smartproxy", "backends": [{"url": %q}], "rate_limit": {%s}}`, b.URL, rl)
	}
	run := func(store string, d time.Duration) (int64, int64, time.Duration) {
		addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
		for _, a := range addrs {
			caddyProcess(t, a, limit(store))
		}
		time.Sleep(1100 * time.Millisecond) // buckets refill after the readiness probes
		return spreadLoad(t, addrs, 40, d)
	}
	ok, limited, took := run("redis", 5*time.Second)
	// The bound of the shared store (ratelimit/redisstore): over any window
	// of T seconds, burst + rate*T + L, where L is the lease size (3 here:
	// at most 100ms of rate, at most burst/2, at most 10).
	bound := 30 + 30*took.Seconds() + 3
	t.Logf("redis store, 3 instances, %v: %d admitted, %d refused (bound %.0f; exact bucket %.0f)",
		took.Round(time.Millisecond), ok, limited, bound, 30+30*took.Seconds())
	if float64(ok) > bound {
		t.Fatalf("%d admitted across 3 instances, over the stated bound %.0f", ok, bound)
	}
	if float64(ok) < 0.8*(30+30*took.Seconds()) || limited == 0 {
		t.Fatalf("%d admitted, %d refused: the shared limit should admit about %.0f", ok, limited, 30+30*took.Seconds())
	}
	localOK, _, localTook := run("local", 3*time.Second)
	t.Logf("local store, 3 instances, %v: %d admitted (each instance has its own bucket)", localTook.Round(time.Millisecond), localOK)
	if float64(localOK) < 2*(30+30*localTook.Seconds()) {
		t.Fatalf("local mode admitted %d; with 3 instances it should be about 3x one limit", localOK)
	}
}

func TestScaleOutRedisDownAndBack(t *testing.T) {
	redis := redistest.Start(t)
	b := newBackend(t, "b", nil)
	rl := func(policy string) map[string]any {
		return map[string]any{"requests_per_second": 1000, "burst": 1000, "store": "redis",
			"redis": map[string]any{"address": redis.Addr, "timeout": "100ms", "failure_policy": policy}}
	}
	start(t, map[string]any{
		"backends": backends(b),
		"routes": []map[string]any{
			{"path": "/open", "rate_limit": rl("fail_open")},
			{"path": "/closed", "rate_limit": rl("fail_closed")},
		},
	})
	c := newClient()
	for _, p := range []string{"/open", "/closed"} {
		if code, _ := get(t, c, p); code != 200 {
			t.Fatalf("%s with Redis up: %d", p, code)
		}
	}
	redis.Kill()
	// Tokens already leased from Redis (at most lease_size, 10) are spent
	// locally first; then the failure policy applies.
	served := 0
	for ; served < 20; served++ {
		if code, _ := get(t, c, "/closed"); code == http.StatusServiceUnavailable {
			break
		}
	}
	if served > 10 {
		t.Fatalf("fail_closed served %d requests after Redis died; at most the 10 leased tokens may be spent", served)
	}
	worst := time.Duration(0)
	for range 5 {
		begin := time.Now()
		if code, _ := get(t, c, "/closed"); code != http.StatusServiceUnavailable {
			t.Fatalf("fail_closed with Redis down: %d, want 503", code)
		}
		if code, _ := get(t, c, "/open"); code != 200 {
			t.Fatalf("fail_open with Redis down: %d, want 200 (local limiting)", code)
		}
		worst = max(worst, time.Since(begin))
	}
	t.Logf("slowest pair of requests with Redis down: %v (timeout 100ms)", worst)
	if worst > 2*time.Second {
		t.Fatalf("a request waited %v on a dead Redis", worst)
	}
	m := scrape(t)
	if v := sample(t, m, "caddy_smartproxy_ratelimit_store_degraded", `route="sp|*|*/closed"`); v != 1 {
		t.Errorf("degraded gauge %v, want 1", v)
	}
	redis.Restart()
	if !eventually(10*time.Second, func() bool { code, _ := get(t, c, "/closed"); return code == 200 }) {
		t.Fatal("fail_closed route did not recover when Redis came back")
	}
	if v := sample(t, scrape(t), "caddy_smartproxy_ratelimit_store_transitions_total", `route="sp|*|*/closed"`); v < 2 {
		t.Errorf("transitions %v, want 2 (down, up)", v)
	}
}

func TestScaleOutReloadsDoNotLeakRedisConnections(t *testing.T) {
	redis := redistest.Start(t)
	b := newBackend(t, "b", nil)
	cfg := func(i int) map[string]any {
		return map[string]any{"backends": backends(b), "timeout": fmt.Sprintf("%ds", 10+i%2),
			"rate_limit": map[string]any{"requests_per_second": 1000, "burst": 1000, "global": true,
				"store": "redis", "redis": map[string]any{"address": redis.Addr}}}
	}
	c := newClient()
	start(t, cfg(0))
	get(t, c, "/")
	base := redis.ConnectedClients()
	drops := 0
	for i := range 100 {
		start(t, cfg(i))
		// The first request after a reload may reach the old server as it
		// shuts down and be dropped unanswered (see getRetryingDrop); that
		// is Caddy's reload, not what this test is about, so it is retried
		// once. Any other failure, or a second drop, fails the test.
		resp, dropped, err := getRetryingDrop(c, proxyURL+"/", true)
		if err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("reload %d: %d", i, resp.StatusCode)
		}
		if dropped {
			drops++
		}
	}
	after := redis.ConnectedClients()
	t.Logf("Redis clients: %d before 100 reloads, %d after; %d requests dropped by a shutting-down server and retried", base, after, drops)
	if after > base+2 {
		t.Fatalf("Redis clients grew from %d to %d over 100 reloads", base, after)
	}
}
