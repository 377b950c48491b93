package caddytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	smartproxy "github.com/caddy-smartproxy/smartproxy"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// The shared cache tier (cache.shared) end to end: three Caddy processes
// sharing one real redis-server, in front of one backend that counts what
// reaches it. Clients address every instance by one host name, as a fleet
// behind DNS or an L4 balancer is addressed.

const fleetHost = "fleet.example"

// fleetBackend answers every path with a cacheable response naming its
// version (bumped by the test to tell a purged copy from a refill) and the
// path; /cold/ paths take 100 ms, so concurrent misses overlap.
type fleetBackend struct {
	*httptest.Server
	hits    atomic.Int64
	version atomic.Int64
	mu      sync.Mutex
	byPath  map[string]int
}

func newFleetBackend(t *testing.T) *fleetBackend {
	b := &fleetBackend{byPath: map[string]int{}}
	b.version.Store(1)
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		b.mu.Lock()
		b.byPath[r.URL.Path]++
		b.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/cold/") {
			time.Sleep(100 * time.Millisecond)
		}
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Surrogate-Key", "all "+strings.Split(r.URL.Path, "/")[1])
		fmt.Fprintf(w, "v%d %s", b.version.Load(), r.URL.Path)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *fleetBackend) hitsOf(path string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byPath[path]
}

// fleet is three instances: their proxy and admin addresses.
type fleet struct {
	proxies, admins []string
}

// startFleet starts the three instances. Their Redis timeout is a
// generous 1 s: on a loaded test machine a 100 ms call can time out, which
// (as it should) takes Redis out for a second and sends misses to the
// backend, and the counts below would be about the machine, not the tier.
// A killed Redis refuses connections at once, so that test is no slower.
func startFleet(t *testing.T, b *fleetBackend, redisAddr string) *fleet {
	t.Helper()
	handler := fmt.Sprintf(`{"handler": "smartproxy", "backends": [{"url": %q}],
		"cache": {"max_size": 5000, "shared": {"store": "redis", "redis": {"address": %q}, "timeout": "1s", "lock_timeout": "3s"}}}`,
		b.URL, redisAddr)
	f := &fleet{}
	for range 3 {
		p, a := freeAddr(t), freeAddr(t)
		caddyProcessAdmin(t, p, a, handler)
		f.proxies, f.admins = append(f.proxies, p), append(f.admins, a)
	}
	return f
}

// fleetGet sends a GET for path to instance i and returns the status, body
// and Cache-Status.
func fleetGet(c *http.Client, addr, path string) (int, string, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, "", "", err
	}
	req.Host = fleetHost
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("Cache-Status"), err
}

// fleetLoad sends n GETs over urls distinct paths (prefix + number) from
// workers concurrent clients, request k to instance (k%urls + k/urls) % 3,
// so each pass over the paths asks each path of the next instance. It returns the requests
// that failed or got a wrong answer; during is called once a third of the
// way through.
func fleetLoad(t *testing.T, f *fleet, prefix string, n, urls, workers int, during func()) int64 {
	t.Helper()
	var next, failed atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for {
				k := int(next.Add(1)) - 1
				if k >= n {
					return
				}
				if during != nil && k == n/3 {
					once.Do(during)
				}
				path := fmt.Sprintf("%s%d", prefix, k%urls)
				code, body, _, err := fleetGet(c, f.proxies[(k%urls+k/urls)%3], path)
				if err != nil || code != 200 || !strings.HasSuffix(body, " "+path) {
					failed.Add(1)
					t.Logf("request %d %s: %d %q %v", k, path, code, body, err)
				}
			}
		}()
	}
	wg.Wait()
	return failed.Load()
}

// purgeAt posts a purge request to an instance's admin API.
func purgeAt(t *testing.T, admin, body string) {
	t.Helper()
	resp, err := http.Post("http://"+admin+"/smartproxy/cache/purge", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("purge %s: %d %s", body, resp.StatusCode, msg)
	}
}

func TestFleetCacheSharedAcrossInstances(t *testing.T) {
	redis := redistest.Start(t)
	b := newFleetBackend(t)
	f := startFleet(t, b, redis.Addr)

	// 2,000 requests over 500 cacheable URLs spread over the three.
	if failed := fleetLoad(t, f, "/u/", 2000, 500, 16, nil); failed != 0 {
		t.Fatalf("%d requests failed", failed)
	}
	t.Logf("2000 requests over 500 URLs on 3 instances: the backend saw %d", b.hits.Load())
	if h := b.hits.Load(); h > 525 {
		t.Fatalf("the backend saw %d requests for 500 URLs; the shared tier should keep it to at most 525", h)
	}

	// 100 concurrent cold GETs of one URL across the three: one backend
	// request (two at most, if a lock races its expiry).
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body, _, err := fleetGet(&http.Client{Timeout: 10 * time.Second}, f.proxies[i%3], "/cold/1")
			if err != nil || code != 200 || body != "v1 /cold/1" {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("100 concurrent cold GETs over 3 instances: the backend saw %d", b.hitsOf("/cold/1"))
	if bad.Load() != 0 || b.hitsOf("/cold/1") > 2 {
		t.Fatalf("%d bad answers, %d backend requests for one cold URL; want 0 and at most 2", bad.Load(), b.hitsOf("/cold/1"))
	}

	// A purge on instance 1 reaches the memory of 2 and 3: after it, they
	// serve the new version, never their old copies.
	c := newClient()
	for _, p := range f.proxies {
		if _, body, _, _ := fleetGet(c, p, "/u/7"); body != "v1 /u/7" {
			t.Fatalf("before the purge: %q", body)
		}
	}
	b.version.Store(2)
	purgeAt(t, f.admins[0], `{"key": "GET http://`+fleetHost+`/u/7"}`)
	// Until the purge reaches an instance (pub/sub, another process) it
	// serves its old copy; then it misses, or finds the refill in Redis.
	newVersion := func(i int, path, want string) string {
		t.Helper()
		var body, cs string
		if !eventually(5*time.Second, func() bool {
			_, body, cs, _ = fleetGet(c, f.proxies[i], path)
			return body == want
		}) {
			t.Fatalf("instance %d still serves %q for %s after the purge", i+1, body, path)
		}
		return cs
	}
	if cs := newVersion(1, "/u/7", "v2 /u/7"); !strings.Contains(cs, "fwd=uri-miss") {
		t.Fatalf("instance 2's first answer after a purge on instance 1: %s, want a miss", cs)
	}
	newVersion(2, "/u/7", "v2 /u/7")
	// By tag: every /u/ response carries the tag "u".
	b.version.Store(3)
	purgeAt(t, f.admins[2], `{"tags": ["u"]}`)
	for i := range f.proxies {
		newVersion(i, fmt.Sprintf("/u/%d", 100+i), fmt.Sprintf("v3 /u/%d", 100+i))
	}
	m := scrapeAt(t, f.admins[1])
	if v := sample(t, m, "caddy_smartproxy_cache_shared_hits_total"); v < 300 {
		t.Fatalf("instance 2 reports %v shared hits; the load alone should give it about 333", v)
	}
}

func TestFleetCacheRedisDownAndBack(t *testing.T) {
	redis := redistest.Start(t)
	b := newFleetBackend(t)
	f := startFleet(t, b, redis.Addr)
	// Redis killed a third of the way through: every request is answered.
	failed := fleetLoad(t, f, "/k/", 1500, 300, 12, redis.Kill)
	t.Logf("1500 requests, Redis killed after 500: %d failed, backend saw %d", failed, b.hits.Load())
	if failed != 0 {
		t.Fatalf("%d requests failed while Redis went away", failed)
	}
	for _, a := range f.admins {
		m := scrapeAt(t, a)
		if v := sample(t, m, "caddy_smartproxy_cache_shared_down"); v != 1 {
			t.Fatalf("instance %s: shared_down %v with Redis dead", a, v)
		}
		if sh := sharedStatus(t, a); !sh.Down || sh.Hits == 0 || sh.Stores == 0 {
			t.Fatalf("instance %s: status %+v, want down with the hits and stores from before", a, sh)
		}
	}
	// Local caches keep serving what they hold.
	c := newClient()
	before := b.hits.Load()
	if _, body, cs, _ := fleetGet(c, f.proxies[0], "/k/0"); body != "v1 /k/0" || !strings.Contains(cs, "hit") || b.hits.Load() != before {
		t.Fatalf("instance 1's memory with Redis down: %q (%s)", body, cs)
	}

	redis.Restart()
	for _, a := range f.admins {
		if !eventually(10*time.Second, func() bool {
			return sample(t, scrapeAt(t, a), "caddy_smartproxy_cache_shared_down") == 0
		}) {
			t.Fatalf("instance %s did not see Redis back", a)
		}
		if v := sample(t, scrapeAt(t, a), "caddy_smartproxy_cache_shared_transitions_total"); v != 2 {
			t.Fatalf("instance %s: %v transitions, want 2 (down, up)", a, v)
		}
		if sh := sharedStatus(t, a); sh.Down || sh.Transitions != 2 {
			t.Fatalf("instance %s: status %+v, want up after 2 transitions", a, sh)
		}
	}
	// Sharing resumes: a URL filled through instance 1 is a shared hit on
	// 2 and 3.
	fleetGet(c, f.proxies[0], "/after/1")
	for _, p := range f.proxies[1:] {
		if _, body, cs, _ := fleetGet(c, p, "/after/1"); body != "v1 /after/1" || !strings.Contains(cs, "detail=shared") {
			t.Fatalf("after Redis came back: %q (%s), want a shared hit", body, cs)
		}
	}
	if h := b.hitsOf("/after/1"); h != 1 {
		t.Fatalf("the backend saw %d requests for a URL shared after Redis came back", h)
	}
}

// Reloads that change the shared tier's settings make a new Redis client
// and close the old one (its pool, probe and purge subscription) without
// hanging or leaking connections; what the old cache stored is still
// shared through Redis with the new one.
func TestFleetCacheReloads(t *testing.T) {
	redis := redistest.Start(t)
	b := newFleetBackend(t)
	cfg := func(i int) map[string]any {
		return map[string]any{"backends": []map[string]any{{"url": b.URL}},
			// A Redis call slower than the default 100 ms (a loaded CI
			// machine) would count Redis as down and fetch again.
			"cache": map[string]any{"shared": map[string]any{"store": "redis", "redis": map[string]any{"address": redis.Addr},
				"timeout": "2s", "lock_timeout": fmt.Sprintf("%ds", 1+i%2)}}}
	}
	c := newClient()
	start(t, cfg(0))
	if code, body := get(t, c, "/r/1", "Host", fleetHost); code != 200 || body != "v1 /r/1" {
		t.Fatalf("%d %q", code, body)
	}
	base := redis.ConnectedClients()
	for i := range 30 {
		begin := time.Now()
		start(t, cfg(i+1))
		if d := time.Since(begin); d > 5*time.Second {
			t.Fatalf("reload %d took %v", i, d)
		}
		if code, body := get(t, c, "/r/1", "Host", fleetHost); code != 200 || body != "v1 /r/1" {
			t.Fatalf("reload %d: %d %q", i, code, body)
		}
	}
	after := redis.ConnectedClients()
	t.Logf("Redis clients: %d before 30 reloads that each replaced the tier's client, %d after", base, after)
	if after > base+2 {
		t.Fatalf("Redis clients grew from %d to %d over 30 reloads", base, after)
	}
	if h := b.hitsOf("/r/1"); h != 1 {
		t.Fatalf("the backend saw %d requests for /r/1 across reloads; each new cache should find it in Redis", h)
	}
}

// Each transition of the shared tier's Redis is a log line: a warning
// when it goes, an info line when it is back.
func TestFleetCacheTransitionsAreLogged(t *testing.T) {
	redis := redistest.Start(t)
	b := newFleetBackend(t)
	addr := freeAddr(t)
	logFile := filepath.Join(t.TempDir(), "caddy.log")
	startCaddyProcess(t, fmt.Sprintf(`{"admin": {"disabled": true},
		"logging": {"logs": {"default": {"level": "INFO", "writer": {"output": "file", "filename": %q}}}},
		"apps": {"http": {"servers": {"sp": {"listen": [%q], "automatic_https": {"disable": true},
			"routes": [{"handle": [{"handler": "smartproxy", "backends": [{"url": %q}],
				"cache": {"shared": {"store": "redis", "redis": {"address": %q}}}}]}]}}}}}`,
		logFile, addr, b.URL, redis.Addr), os.Environ())
	c := newClient()
	if !eventually(20*time.Second, func() bool { _, _, _, err := fleetGet(c, addr, "/l/0"); return err == nil }) {
		t.Fatal("caddy did not start")
	}
	logged := func(msg string) bool {
		raw, _ := os.ReadFile(logFile)
		return strings.Contains(string(raw), msg)
	}
	redis.Kill()
	fleetGet(c, addr, "/l/1")
	if !eventually(5*time.Second, func() bool { return logged(`"msg":"shared cache tier unavailable`) }) {
		t.Fatal("no warning when Redis went away")
	}
	redis.Restart()
	if !eventually(10*time.Second, func() bool { return logged(`"msg":"shared cache tier reachable again`) }) {
		t.Fatal("no log line when Redis came back")
	}
}

// sharedStatus reads the default route's shared tier from an instance's
// status document.
func sharedStatus(t *testing.T, admin string) smartproxy.SharedCacheStatus {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/smartproxy/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc smartproxy.StatusDoc
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for _, rt := range doc.Routes {
		if rt.Cache != nil && rt.Cache.Shared != nil {
			return *rt.Cache.Shared
		}
	}
	t.Fatalf("no route with a shared cache tier in %s's status", admin)
	return smartproxy.SharedCacheStatus{}
}
