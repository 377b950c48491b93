package caddytest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGoRedisLogsReachCaddysLog: a Caddy process whose shared rate-limit
// store is a Redis that refuses connections. go-redis's own message about
// the failed dial is a warning of http.handlers.smartproxy.redis in
// Caddy's log (a file here), never a line of go-redis's default logger on
// stderr, and the store's password is in neither.
func TestGoRedisLogsReachCaddysLog(t *testing.T) {
	b := newBackend(t, "b", nil)
	addr, deadRedis := freeAddr(t), freeAddr(t) // nothing listens on deadRedis
	dir := t.TempDir()
	logFile := filepath.Join(dir, "caddy.log")
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	const password = "pw-that-must-not-be-logged"
	startCaddyProcessTo(t, fmt.Sprintf(`{"admin": {"disabled": true},
		"logging": {"logs": {"default": {"level": "WARN", "writer": {"output": "file", "filename": %q}}}},
		"apps": {"http": {"servers": {"sp": {"listen": [%q], "automatic_https": {"disable": true},
			"routes": [{"handle": [{"handler": "smartproxy", "backends": [{"url": %q}],
				"rate_limit": {"requests_per_second": 100, "burst": 100, "store": "redis",
					"redis": {"address": %q, "password": %q, "timeout": "200ms", "failure_policy": "fail_open"}}}]}]}}}}}`,
		logFile, addr, b.URL, deadRedis, password), os.Environ(), stderr)
	c := newClient()
	found := eventually(20*time.Second, func() bool {
		if resp, err := c.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close() // fail_open: served by the local limiter meanwhile
		}
		raw, _ := os.ReadFile(logFile)
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.Contains(line, `"logger":"http.handlers.smartproxy.redis"`) && strings.Contains(line, `"level":"warn"`) &&
				strings.Contains(line, "failed to dial") {
				return true
			}
		}
		return false
	})
	log, _ := os.ReadFile(logFile)
	errOut, _ := os.ReadFile(stderr.Name())
	if !found {
		t.Fatalf("no warning of http.handlers.smartproxy.redis about the failed dial in Caddy's log:\n%s\nstderr:\n%s", log, errOut)
	}
	if strings.Contains(string(errOut), "failed to dial") || strings.Contains(string(errOut), "redis: ") {
		t.Fatalf("go-redis wrote to stderr:\n%s", errOut)
	}
	if strings.Contains(string(log)+string(errOut), password) {
		t.Fatal("the Redis password was logged")
	}
}
