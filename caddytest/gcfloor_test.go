package caddytest

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A Caddy built with the plugin and nothing else (as xcaddy builds it: this
// test binary runs Caddy's own main, not cmd/smartproxy's) gets the GC floor
// from the handler's Provision, and leaves the pacing alone when GOGC or
// SMARTPROXY_GC_FLOOR=0 says so. The process's GOGC is read from its own
// Prometheus metrics (go_gc_gogc_percent).
func TestGCFloorInPluginBuild(t *testing.T) {
	b := newBackend(t, "b", nil)
	for _, tc := range []struct {
		name  string
		env   []string
		floor bool
	}{
		{"no environment: the floor", nil, true},
		{"GOGC chosen by the operator", []string{"GOGC=100"}, false},
		{"floor turned off", []string{"SMARTPROXY_GC_FLOOR=0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			percent := gogcOfCaddy(t, fmt.Sprintf(`{"handler": "smartproxy", "backends": [{"url": %q}]}`, b.URL), tc.env)
			if tc.floor && percent <= 100 {
				t.Errorf("go_gc_gogc_percent = %d, want above 100 (the floor on a small heap)", percent)
			}
			if !tc.floor && percent != 100 {
				t.Errorf("go_gc_gogc_percent = %d, want 100 (left alone)", percent)
			}
		})
	}
}

// gogcOfCaddy runs this test binary as a Caddy with handler (see TestMain),
// the given environment added to one without GOGC or SMARTPROXY_GC_FLOOR,
// proxies one request through it and returns the GOGC its metrics report.
func gogcOfCaddy(t *testing.T, handler string, env []string) int {
	t.Helper()
	addr, admin := freeAddr(t), freeAddr(t)
	var clean []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "SMARTPROXY_GC_FLOOR=") {
			clean = append(clean, kv)
		}
	}
	startCaddyProcess(t, fmt.Sprintf(`{"admin": {"listen": %q},
		"logging": {"logs": {"default": {"level": "ERROR"}}},
		"apps": {"http": {"servers": {"sp": {"listen": [%q], "automatic_https": {"disable": true},
			"routes": [{"handle": [%s]}]}}}}}`, admin, addr, handler), append(clean, env...))
	c := &http.Client{Timeout: 2 * time.Second}
	if !eventually(20*time.Second, func() bool {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatalf("caddy on %s did not proxy", addr)
	}
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_gc_gogc_percent "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("go_gc_gogc_percent %q: %v", v, err)
			}
			return int(n)
		}
	}
	t.Fatal("no go_gc_gogc_percent in the metrics")
	return 0
}
