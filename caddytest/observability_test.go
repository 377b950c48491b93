package caddytest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// scrape fetches Caddy's /metrics from the admin endpoint and returns the
// smartproxy samples as "name{labels}" -> value.
func scrape(t *testing.T) map[string]float64 {
	t.Helper()
	return scrapeAt(t, "localhost:2999")
}

// scrapeAt is scrape from the admin endpoint at addr.
func scrapeAt(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "caddy_smartproxy_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func sample(t *testing.T, m map[string]float64, name string, labels ...string) float64 {
	t.Helper()
	for k, v := range m {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		all := true
		for _, l := range labels {
			if !strings.Contains(k, l) {
				all = false
			}
		}
		if all {
			return v
		}
	}
	t.Fatalf("no sample %s with %v among %d smartproxy samples", name, labels, len(m))
	return 0
}

func TestMetricsAfterTrafficAndFailure(t *testing.T) {
	good := newBackend(t, "good", nil)
	// The bad backend fails its health checks only once it has answered
	// two proxied requests with 500 (which open its breaker): the order of
	// events does not depend on check timing.
	var served atomic.Int64
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			if served.Load() >= 2 {
				w.WriteHeader(http.StatusInternalServerError)
			}
			return
		}
		served.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	})
	start(t, map[string]any{
		"backends":        backends(good, bad),
		"circuit_breaker": map[string]any{"failure_threshold": 2, "base_backoff": "30s", "max_backoff": "60s"},
		"health_check":    map[string]any{"interval": "100ms", "timeout": "50ms", "healthy_threshold": 1, "unhealthy_threshold": 1},
		"rate_limit":      map[string]any{"requests_per_second": 0.01, "burst": 8},
		"routes": []map[string]any{{"path": "/cached", "cache": map[string]any{"ttl": "60s"},
			"backends": backends(good)}},
	})
	c := newClient()
	for range 10 {
		get(t, c, "/")
	}
	for range 3 {
		get(t, c, "/cached")
	}
	if !eventually(3*time.Second, func() bool {
		return sample(t, scrape(t), "caddy_smartproxy_backend_healthy", `backend="`+bad.URL) == 0
	}) {
		t.Fatal("the failing backend's health gauge never went to 0")
	}
	m := scrape(t)
	goodName, badName := `backend="`+good.URL, `backend="`+bad.URL
	def := `route="sp|*|default"`
	if v := sample(t, m, "caddy_smartproxy_requests_total", def, badName, `code_class="5xx"`); v != 2 {
		t.Errorf("5xx from the bad backend: %v, want 2 (then its breaker opened)", v)
	}
	if v := sample(t, m, "caddy_smartproxy_requests_total", def, goodName, `code_class="2xx"`); v < 5 {
		t.Errorf("2xx from the good backend: %v", v)
	}
	if v := sample(t, m, "caddy_smartproxy_breaker_state", def, badName); v != 2 {
		t.Errorf("breaker_state of the bad backend: %v, want 2 (open)", v)
	}
	if v := sample(t, m, "caddy_smartproxy_breaker_trips_total", def, badName); v != 1 {
		t.Errorf("breaker_trips_total: %v, want 1", v)
	}
	if v := sample(t, m, "caddy_smartproxy_breaker_state", def, goodName); v != 0 {
		t.Errorf("breaker_state of the good backend: %v, want 0", v)
	}
	if v := sample(t, m, "caddy_smartproxy_health_transitions_total", def, badName, `to="unhealthy"`); v < 1 {
		t.Errorf("health transitions to unhealthy: %v", v)
	}
	if v := sample(t, m, "caddy_smartproxy_health_checks_total", def, badName, `result="fail"`); v < 1 {
		t.Errorf("failed health checks: %v", v)
	}
	if v := sample(t, m, "caddy_smartproxy_ratelimit_allowed_total", def); v != 8 {
		t.Errorf("ratelimit allowed: %v, want 8 (the burst)", v)
	}
	if v := sample(t, m, "caddy_smartproxy_ratelimit_limited_total", def); v != 2 {
		t.Errorf("ratelimit limited: %v, want 2", v)
	}
	if v := sample(t, m, "caddy_smartproxy_cache_hits_total", `route="sp|*|*/cached"`); v != 2 {
		t.Errorf("cache hits: %v, want 2", v)
	}
	if v := sample(t, m, "caddy_smartproxy_backend_response_seconds_count", def, goodName); v < 5 {
		t.Errorf("duration histogram count: %v", v)
	}
	if v := sample(t, m, "caddy_smartproxy_backend_in_flight", def, goodName); v != 0 {
		t.Errorf("in flight at rest: %v", v)
	}
}

type statusDoc struct {
	Generated time.Time `json:"generated"`
	Routes    []struct {
		Name      string `json:"name"`
		Server    string `json:"server"`
		Site      string `json:"site"`
		Route     string `json:"route"`
		Algorithm string `json:"algorithm"`
		Available int    `json:"available"`
		Backends  []struct {
			URL       string  `json:"url"`
			Weight    int     `json:"weight"`
			Available bool    `json:"available"`
			InFlight  int64   `json:"in_flight"`
			Requests  uint64  `json:"requests"`
			Failures  uint64  `json:"failures"`
			ErrorRate float64 `json:"error_rate"`
			LatencyMS float64 `json:"latency_ms"`
			Health    *struct {
				State     string     `json:"state"`
				Since     *time.Time `json:"since"`
				LastCheck *time.Time `json:"last_check"`
				LastError string     `json:"last_error"`
			} `json:"health"`
			Breaker *struct {
				State     string     `json:"state"`
				NextProbe *time.Time `json:"next_probe"`
				Trips     uint64     `json:"trips"`
				BackoffMS float64    `json:"backoff_ms"`
			} `json:"breaker"`
		} `json:"backends"`
		RateLimit *struct {
			RequestsPerSecond float64 `json:"requests_per_second"`
			Burst             int     `json:"burst"`
			Keys              int     `json:"keys"`
		} `json:"rate_limit"`
		Cache *struct {
			Hits    uint64 `json:"hits"`
			Entries int    `json:"entries"`
		} `json:"cache"`
	} `json:"routes"`
}

func getStatus(t *testing.T) statusDoc {
	t.Helper()
	resp, err := http.Get("http://localhost:2999/smartproxy/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc statusDoc
	dec := json.NewDecoder(resp.Body)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestStatusAPI(t *testing.T) {
	good := newBackend(t, "good", nil)
	// The bad backend passes its health checks until it has answered one
	// proxied request (a 502, which opens its breaker), then fails them:
	// so the order of events is fixed whatever the check timing.
	var served atomic.Bool
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			if served.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		served.Store(true)
		w.WriteHeader(http.StatusBadGateway)
	})
	start(t, map[string]any{
		"backends":        []map[string]any{{"url": good.URL, "weight": 3}, {"url": bad.URL}},
		"load_balancer":   map[string]any{"algorithm": "weighted_round_robin"},
		"circuit_breaker": map[string]any{"failure_threshold": 1, "base_backoff": "30s", "max_backoff": "60s"},
		"health_check":    map[string]any{"interval": "100ms", "timeout": "50ms", "path": "/health", "healthy_threshold": 1, "unhealthy_threshold": 1},
		"rate_limit":      map[string]any{"requests_per_second": 50, "burst": 100},
		"retries":         map[string]any{"count": 0},
		"cache":           map[string]any{},
	})
	c := newClient()
	for i := range 8 {
		get(t, c, fmt.Sprintf("/?n=%d", i))
	}
	if !eventually(3*time.Second, func() bool {
		d := getStatus(t)
		// ... and the good one checked at least once: the two backends'
		// checks are not in step, so the bad one's can come first.
		return len(d.Routes) == 1 && d.Routes[0].Backends[1].Health != nil && d.Routes[0].Backends[1].Health.State == "unhealthy" &&
			d.Routes[0].Backends[0].Health != nil && d.Routes[0].Backends[0].Health.LastCheck != nil
	}) {
		t.Fatal("status never showed the bad backend unhealthy and the good one checked")
	}
	doc := getStatus(t)
	if time.Since(doc.Generated) > time.Minute {
		t.Errorf("generated %v", doc.Generated)
	}
	r := doc.Routes[0]
	if r.Name != "sp|*|default" || r.Route != "default" || r.Server != "sp" || r.Site != "*" || r.Algorithm != "weighted_round_robin" || r.Available != 1 || len(r.Backends) != 2 {
		t.Fatalf("route %+v", r)
	}
	g, b := r.Backends[0], r.Backends[1]
	if g.URL != good.URL || g.Weight != 3 || !g.Available || g.Requests == 0 || g.Failures != 0 || g.ErrorRate != 0 || g.LatencyMS <= 0 {
		t.Errorf("good backend %+v", g)
	}
	if g.Health == nil || g.Health.State != "healthy" || g.Health.LastCheck == nil || g.Health.LastError != "" {
		t.Errorf("good backend health %+v", g.Health)
	}
	if g.Breaker == nil || g.Breaker.State != "closed" || g.Breaker.Trips != 0 {
		t.Errorf("good backend breaker %+v", g.Breaker)
	}
	if b.URL != bad.URL || b.Available || b.Requests != 1 || b.Failures != 1 || b.ErrorRate != 1 {
		t.Errorf("bad backend %+v", b)
	}
	if b.Health == nil || b.Health.Since == nil || !strings.Contains(b.Health.LastError, "503") {
		t.Errorf("bad backend health %+v", b.Health)
	}
	if b.Breaker == nil || b.Breaker.State != "open" || b.Breaker.Trips != 1 || b.Breaker.NextProbe == nil ||
		time.Until(*b.Breaker.NextProbe) < 20*time.Second || b.Breaker.BackoffMS < 20000 {
		t.Errorf("bad backend breaker %+v", b.Breaker)
	}
	if r.RateLimit == nil || r.RateLimit.RequestsPerSecond != 50 || r.RateLimit.Burst != 100 || r.RateLimit.Keys != 1 {
		t.Errorf("rate limit %+v", r.RateLimit)
	}
	if r.Cache == nil {
		t.Errorf("no cache status")
	}
}

func TestPlaceholders(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "b")
	})
	logFile := t.TempDir() + "/access.log"
	cfg := fmt.Sprintf(`{
	"admin": {"listen": "localhost:2999"},
	"logging": {"logs": {
		"default": {"level": "ERROR", "exclude": ["http.log.access.access"]},
		"access": {"level": "INFO", "include": ["http.log.access.access"],
			"writer": {"output": "file", "filename": %q}, "encoder": {"format": "json"}}}},
	"apps": {"http": {"servers": {"sp": {
		"listen": [%q],
		"automatic_https": {"disable": true},
		"logs": {"default_logger_name": "access"},
		"routes": [{"handle": [
			{"handler": "log_append", "key": "sp_cache", "value": "{http.smartproxy.cache_status}"},
			{"handler": "log_append", "key": "sp_backend", "value": "{http.smartproxy.backend}"},
			{"handler": "log_append", "key": "sp_route", "value": "{http.smartproxy.route}"},
			{"handler": "log_append", "key": "sp_retries", "value": "{http.smartproxy.retries}"},
			{"handler": "log_append", "key": "sp_latency_ms", "value": "{http.smartproxy.latency_ms}"},
			{"handler": "headers", "response": {"deferred": true, "set": {
				"X-Route": ["{http.smartproxy.route}"], "X-Backend": ["{http.smartproxy.backend}"]}}},
			{"handler": "smartproxy", "backends": [{"url": %q}], "cache": {}}
		]}]
	}}}}
}`, logFile, proxyAddr, b.URL)
	tester := caddytest.NewTester(t)
	tester.InitServer(cfg, "json")
	if t.Failed() {
		t.FailNow()
	}
	c := newClient()
	for range 2 {
		resp, err := c.Get(proxyURL + "/p")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Route") != "default" {
			t.Errorf("X-Route %q", resp.Header.Get("X-Route"))
		}
	}
	var entries []map[string]any
	if !eventually(3*time.Second, func() bool {
		raw, _ := os.ReadFile(logFile)
		entries = nil
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) == nil {
				entries = append(entries, e)
			}
		}
		return len(entries) >= 2
	}) {
		t.Fatalf("access log has %d entries", len(entries))
	}
	miss, hit := entries[0], entries[1]
	if miss["sp_cache"] != "miss" || miss["sp_backend"] != b.URL || miss["sp_route"] != "default" || fmt.Sprint(miss["sp_retries"]) != "0" {
		t.Errorf("first request's log fields: %v", miss)
	}
	if ms, _ := strconv.ParseFloat(fmt.Sprint(miss["sp_latency_ms"]), 64); ms <= 0 {
		t.Errorf("latency_ms %v", miss["sp_latency_ms"])
	}
	if hit["sp_cache"] != "hit" || hit["sp_backend"] != "" {
		t.Errorf("second request's log fields: %v", hit)
	}
}

func TestCachePurgeAPI(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.URL.Path)
	})
	start(t, map[string]any{"backends": backends(b), "cache": map[string]any{}})
	c := newClient()
	for _, p := range []string{"/a", "/static/x", "/static/y"} {
		get(t, c, p)
		get(t, c, p)
	}
	if b.hits.Load() != 3 {
		t.Fatalf("backend hits %d, want 3", b.hits.Load())
	}
	purge := func(body string) (int, string) {
		resp, err := http.Post("http://localhost:2999/smartproxy/cache/purge", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(out))
	}
	if code, out := purge(`{"prefix": "GET http://127.0.0.1:9080/static/"}`); code != 200 || out != `{"purged":2}` {
		t.Fatalf("purge prefix: %d %s", code, out)
	}
	get(t, c, "/static/x")
	get(t, c, "/a")
	if b.hits.Load() != 4 {
		t.Fatalf("after purging /static/: backend hits %d, want 4 (/a still cached)", b.hits.Load())
	}
	if code, out := purge(`{"key": "GET http://127.0.0.1:9080/a"}`); code != 200 || out != `{"purged":1}` {
		t.Fatalf("purge key: %d %s", code, out)
	}
	if code, _ := purge(`{"all": true}`); code != 200 {
		t.Fatalf("purge all: %d", code)
	}
	if code, _ := purge(`{"all": true, "key": "x"}`); code != 400 {
		t.Fatalf("ambiguous purge: %d, want 400", code)
	}
	if code, _ := purge(`{"all": true, "route": "nope"}`); code != 404 {
		t.Fatalf("purge of an unknown route: %d, want 404", code)
	}
	// The purge API lives on the admin endpoint only.
	req, _ := http.NewRequest("POST", proxyURL+"/smartproxy/cache/purge", strings.NewReader(`{"all":true}`))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if b.hits.Load() != 5 { // that POST was proxied like any request
		t.Fatalf("backend hits %d, want 5", b.hits.Load())
	}
}

// chromium finds Debian's chromium (installed by .ci/run).
func chromium() string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func TestStatusPageInHeadlessChromium(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("chromium is not installed (apt-get install chromium; .ci/run does this): skipping the status page browser test")
	}
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	// The page on a site of its own (Caddy's admin endpoint refuses
	// top-level browser navigations), beside the proxy.
	newTesterJSON(t, fmt.Sprintf(`{"handler": "subroute", "routes": [
		{"match": [{"path": ["/_status/*"]}], "handle": [{"handler": "smartproxy_status"}]},
		{"handle": [{"handler": "smartproxy", "backends": [{"url": %q}, {"url": %q}],
			"circuit_breaker": {}, "health_check": {"interval": "1s", "timeout": "500ms"}}]}]}`, b1.URL, b2.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir="+dir, "--virtual-time-budget=5000", "--dump-dom", proxyURL+"/_status/")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := string(out)
	for _, want := range []string{b1.URL, b2.URL, `data-route="sp|*|default"`, "healthy", "closed"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q:\n%s", want, dom)
		}
	}
	if strings.Contains(dom, `id="error">Could not load`) {
		t.Errorf("the page could not load the status API:\n%s", dom)
	}
}
