package smartproxy

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// observedLogger is a logger named as the handler's whose entries the
// test reads.
func observedLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core).Named("http.handlers.smartproxy"), logs
}

// makeGoRedisLog has go-redis log through its own logger, for real: a
// client with password pw fails to dial a closed loopback port, and the
// pool reports "failed to dial after 1 attempts".
func makeGoRedisLog(t *testing.T, pw string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, Password: pw, MaxRetries: -1, DialerRetries: 1, DisableIdentity: true})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err == nil {
		t.Fatalf("PING to the closed port %s answered", addr)
	}
}

// goRedisEntries are the observed entries of go-redis's messages.
func goRedisEntries(logs *observer.ObservedLogs) []observer.LoggedEntry {
	return logs.FilterMessage("go-redis").All()
}

// TestGoRedisLogsGoThroughZap runs itself in a child process, whose
// stderr is its own: there, go-redis's pool failure must come through
// zap, as a warning of http.handlers.smartproxy.redis, and nothing of it
// reach stderr (go-redis's default logger writes there).
func TestGoRedisLogsGoThroughZap(t *testing.T) {
	if os.Getenv("SMARTPROXY_REDISLOG_CHILD") == "1" {
		logger, logs := observedLogger()
		var hs holds
		logRedisTo(&hs, logger, "s3cret-pw")
		defer hs.releaseAll()
		makeGoRedisLog(t, "s3cret-pw")
		es := goRedisEntries(logs)
		if len(es) == 0 {
			t.Fatalf("no go-redis message through zap; all: %v", logs.All())
		}
		e := es[0]
		msg, _ := e.ContextMap()["message"].(string)
		if e.Level != zapcore.WarnLevel || e.LoggerName != "http.handlers.smartproxy.redis" || !strings.Contains(msg, "failed to dial") {
			t.Fatalf("entry %v %q %q, want a warning of http.handlers.smartproxy.redis about the failed dial", e.Level, e.LoggerName, msg)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestGoRedisLogsGoThroughZap$", "-test.count", "1")
	cmd.Env = append(os.Environ(), "SMARTPROXY_REDISLOG_CHILD=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	if s := stderr.String() + string(out); strings.Contains(s, "failed to dial") {
		t.Fatalf("go-redis wrote to the process's own output:\n%s", s)
	}
}

// TestGoRedisLogFollowsTheLatestConfig: the messages go to the most
// recent config that uses Redis; one that is cleaned up (its holds let
// go) gets none, so a reload hands them to the new config whatever the
// order of provisioning and cleanup.
func TestGoRedisLogFollowsTheLatestConfig(t *testing.T) {
	oldL, oldLogs := observedLogger()
	newL, newLogs := observedLogger()
	var oldHS, newHS holds
	logRedisTo(&oldHS, oldL)
	logRedisTo(&newHS, newL) // the reload's new config provisions
	logRedisTo(&oldHS, oldL) // a second Redis user of the old config: no change of order
	makeGoRedisLog(t, "")
	if o, n := len(goRedisEntries(oldLogs)), len(goRedisEntries(newLogs)); o != 0 || n == 0 {
		t.Fatalf("old config got %d messages, new %d: want the new one's logger", o, n)
	}
	oldHS.releaseAll() // the old config is cleaned up
	before := len(goRedisEntries(newLogs))
	makeGoRedisLog(t, "")
	if o, n := len(goRedisEntries(oldLogs)), len(goRedisEntries(newLogs)); o != 0 || n <= before {
		t.Fatalf("after the old config's cleanup: old %d, new %d (before %d)", o, n, before)
	}
	newHS.releaseAll()
	before = len(goRedisEntries(newLogs))
	makeGoRedisLog(t, "") // to Caddy's default logger now
	if n := len(goRedisEntries(newLogs)); n != before {
		t.Fatalf("a cleaned-up config still gets go-redis's messages: %d, before %d", n, before)
	}
}

func TestRedactSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		secrets   []string
		want      string
	}{
		{"a secret", "WRONGPASS hunter2 is wrong", []string{"hunter2"}, "WRONGPASS [redacted] is wrong"},
		{"nested secrets, longest first", "pw abc and abcdef", []string{"abc", "abcdef"}, "pw [redacted] and [redacted]"},
		{"url userinfo", `dial redis://user:pa:ss@10.0.0.1:6379/0 failed`, nil, `dial redis://[redacted]@10.0.0.1:6379/0 failed`},
		{"two urls", "rediss://a@h1 and redis://h2 and redis://b:c@h3", nil, "rediss://[redacted]@h1 and redis://h2 and redis://[redacted]@h3"},
		{"nothing to hide", "connection pool: failed to dial after 1 attempts", []string{"x9"}, "connection pool: failed to dial after 1 attempts"},
		{"a lone scheme", "://", nil, "://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := redactSecrets(tc.msg, tc.secrets); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
