package redistest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// go-redis writes its own messages (a pool that failed to dial, a Sentinel
// that switched masters) through one process-wide logger, to stderr unless
// redis.SetLogger replaces it. The handler replaces it, once per process,
// with Caddy's log (the root package's redislog.go), and the end-to-end
// tests assert on what arrives there; the libraries' own tests have no
// handler, so their output was full of go-redis's lines between the tests'.
// CaptureLogs, called from such a package's TestMain, replaces it, once
// per process, with a logger that writes each message to the log of the
// test that started the most recent server still running (t.Log: shown
// with -v or when that test fails, beside the test's other lines).

var captured struct {
	once sync.Once
	mu   sync.Mutex
	// tests are the running tests that started a server, most recent last.
	tests []testing.TB
}

// CaptureLogs sends go-redis's messages to the log of the test that
// started the most recent server still running (see Start), for the rest
// of the process. Call it from the TestMain of a package whose tests do
// not run the handler: the handler installs its own logger, which must
// not be replaced under it. A message while no such test runs (none has a
// server, or a goroutine outlived its test) goes to stderr, marked.
func CaptureLogs() {
	captured.once.Do(func() { redis.SetLogger(testLogger{}) })
}

// logTo makes t the receiver of go-redis's messages until its Cleanup.
func logTo(t testing.TB) {
	captured.mu.Lock()
	captured.tests = append(captured.tests, t)
	captured.mu.Unlock()
	t.Cleanup(func() {
		captured.mu.Lock()
		defer captured.mu.Unlock()
		for i := len(captured.tests) - 1; i >= 0; i-- {
			if captured.tests[i] == t {
				captured.tests = append(captured.tests[:i], captured.tests[i+1:]...)
				break
			}
		}
	})
}

// testLogger is go-redis's logger under CaptureLogs.
type testLogger struct{}

func (testLogger) Printf(_ context.Context, format string, v ...any) {
	msg := "go-redis: " + strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	// Logged under the lock: a test's Cleanup waits for a message under
	// way before it lets go, so t.Log never runs after its test ended.
	captured.mu.Lock()
	defer captured.mu.Unlock()
	if n := len(captured.tests); n > 0 {
		t := captured.tests[n-1]
		t.Helper() // the line is go-redis's caller's
		t.Log(msg)
		return
	}
	fmt.Fprintln(os.Stderr, "redistest: no test with a server running:", msg)
}
