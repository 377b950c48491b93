package caddytest

import (
	"context"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// clientFrom returns an HTTP client whose connections come from the given
// loopback address, so the proxy sees a distinct client IP.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:         func(ctx context.Context, n, a string) (net.Conn, error) { return d.DialContext(ctx, n, a) },
			MaxIdleConnsPerHost: 64,
		},
	}
}

func TestRateLimitSeedLimits(t *testing.T) {
	b := newBackend(t, "b", nil)
	start(t, map[string]any{
		"backends":   backends(b),
		"rate_limit": map[string]any{"requests_per_second": 100, "burst": 10},
	})
	a := clientFrom("127.0.0.1")
	const n = 50
	var (
		mu         sync.Mutex
		ok, denied int
		retryAfter = map[string]int{}
		policies   = map[string]int{}
		wg         sync.WaitGroup
		gate       = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			resp, err := a.Get(proxyURL + "/")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			policies[resp.Header.Get("RateLimit-Policy")]++
			switch resp.StatusCode {
			case 200:
				ok++
			case 429:
				denied++
				retryAfter[resp.Header.Get("Retry-After")]++
			default:
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	begin := time.Now()
	close(gate)
	wg.Wait()
	elapsed := time.Since(begin)
	// The bucket holds 10 and refills at 100/s: over the burst's own
	// duration at most ceil(elapsed*100) more can pass.
	most := 10 + int(math.Ceil(elapsed.Seconds()*100))
	t.Logf("%d requests in %v: %d allowed, %d refused (at most %d may pass)", n, elapsed, ok, denied, most)
	if ok < 10 || ok > most || ok+denied != n {
		t.Fatalf("%d allowed, %d refused in %v; want 10 allowed (at most %d) and the rest refused", ok, denied, elapsed, most)
	}
	if elapsed < 10*time.Millisecond && ok != 10 {
		t.Fatalf("burst took %v, so exactly 10 should pass; %d did", elapsed, ok)
	}
	// Retry-After is the whole seconds until one token is back (10ms -> 1).
	if retryAfter["1"] != denied {
		t.Errorf("Retry-After values %v, want \"1\" on all %d refusals", retryAfter, denied)
	}
	if policies[`"default";q=100;w=1`] != n {
		t.Errorf("RateLimit-Policy values %v, want the policy on all %d responses", policies, n)
	}
	// Another client has its own bucket.
	other := clientFrom("127.0.0.2")
	for i := range 5 {
		resp, err := other.Get(proxyURL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("second client's request %d: %d, want 200", i, resp.StatusCode)
		}
	}
}

func TestRateLimitSurvivesReload(t *testing.T) {
	b := newBackend(t, "b", nil)
	cfg := func(timeout string) map[string]any {
		return map[string]any{
			"backends":   backends(b),
			"timeout":    timeout,
			"rate_limit": map[string]any{"requests_per_second": 0.01, "burst": 3},
		}
	}
	start(t, cfg("10s"))
	c := clientFrom("127.0.0.1")
	status := func() int {
		resp, err := c.Get(proxyURL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 3 {
		if s := status(); s != 200 {
			t.Fatalf("request %d of the burst: %d", i, s)
		}
	}
	if s := status(); s != 429 {
		t.Fatalf("4th request: %d, want 429", s)
	}
	// A reload that changes something else keeps the bucket: a fresh one
	// would let the next request through.
	start(t, cfg("20s"))
	if s := status(); s != 429 {
		t.Fatalf("after a reload with the same limit: %d, want 429 (the bucket must survive)", s)
	}
	// A changed limit is a new bucket.
	changed := cfg("20s")
	changed["rate_limit"] = map[string]any{"requests_per_second": 0.01, "burst": 4}
	start(t, changed)
	if s := status(); s != 200 {
		t.Fatalf("after a reload with a new limit: %d, want 200", s)
	}
}

func TestRateLimitIgnoresForgedForwardedFor(t *testing.T) {
	b := newBackend(t, "b", nil)
	start(t, map[string]any{
		"backends":   backends(b),
		"rate_limit": map[string]any{"requests_per_second": 0.01, "burst": 2},
	})
	c := clientFrom("127.0.0.3")
	denied := 0
	for i := range 6 {
		req, _ := http.NewRequest("GET", proxyURL+"/", nil)
		req.Header.Set("X-Forwarded-For", "10.0.0."+string(rune('1'+i)))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 {
			denied++
		}
	}
	if denied != 4 {
		t.Fatalf("%d of 6 refused; a forged X-Forwarded-For must not escape the limit (want 4)", denied)
	}
}

func TestRateLimitGlobalAndCustomKey(t *testing.T) {
	b := newBackend(t, "b", nil)
	start(t, map[string]any{
		"backends": backends(b),
		"routes": []map[string]any{
			{"path": "/global", "rate_limit": map[string]any{"requests_per_second": 0.01, "burst": 2, "global": true}},
			{"path": "/keyed", "rate_limit": map[string]any{"requests_per_second": 0.01, "burst": 1,
				"key": "{http.request.header.X-Api-Key}", "headers": false}},
		},
	})
	code := func(c *http.Client, path, apiKey string) (int, http.Header) {
		req, _ := http.NewRequest("GET", proxyURL+path, nil)
		if apiKey != "" {
			req.Header.Set("X-Api-Key", apiKey)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	c1, c2 := clientFrom("127.0.0.4"), clientFrom("127.0.0.5")
	// Global: two clients share one bucket of 2.
	got := []int{}
	for _, c := range []*http.Client{c1, c2, c1} {
		s, _ := code(c, "/global", "")
		got = append(got, s)
	}
	if got[0] != 200 || got[1] != 200 || got[2] != 429 {
		t.Fatalf("global limit: %v, want [200 200 429]", got)
	}
	// Keyed by header: one client, two keys, one request each.
	if s, h := code(c1, "/keyed", "alice"); s != 200 || h.Get("RateLimit-Policy") != "" {
		t.Fatalf("alice: %d, policy %q (headers are off)", s, h.Get("RateLimit-Policy"))
	}
	if s, _ := code(c1, "/keyed", "bob"); s != 200 {
		t.Fatalf("bob: %d", s)
	}
	if s, _ := code(c1, "/keyed", "alice"); s != 429 {
		t.Fatalf("alice again: %d, want 429", s)
	}
}

// TestRateLimitHeadersAreEachResponsesOwn: Caddy's header replace rewrites
// a field's values in place, so a value slice the limiter shared between
// responses would be rewritten for every later response (and raced on by
// concurrent ones). A replace that is not idempotent shows it: each
// response must carry the policy rewritten once.
func TestRateLimitHeadersAreEachResponsesOwn(t *testing.T) {
	b := newBackend(t, "b", nil)
	rewrite := map[string]any{
		"handler": "headers",
		"response": map[string]any{
			"deferred": true,
			"replace": map[string]any{
				"Ratelimit-Policy": []map[string]any{{"search": "q=100", "replace": "q=100;x"}},
				"Ratelimit":        []map[string]any{{"search": `"default"`, "replace": `"default";x`}},
			},
		},
	}
	startServers(t, map[string]any{"sp": plainServer(proxyAddr, spRoute(map[string]any{
		"backends":   backends(b),
		"rate_limit": map[string]any{"requests_per_second": 100, "burst": 100},
	}, nil, rewrite))})
	c := clientFrom("127.0.0.1")
	for i := range 5 {
		resp, err := c.Get(proxyURL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, want := resp.Header.Get("RateLimit-Policy"), `"default";q=100;x;w=1`; got != want {
			t.Fatalf("response %d: RateLimit-Policy %q, want %q", i, got, want)
		}
		if got := resp.Header.Get("RateLimit"); !strings.HasPrefix(got, `"default";x;r=`) || strings.Contains(got, ";x;x") {
			t.Fatalf("response %d: RateLimit %q, want the value rewritten once", i, got)
		}
	}
}
