package redistest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// recorder is a testing.TB that keeps what is logged to it.
type recorder struct {
	testing.TB
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Log(args ...any) {
	r.mu.Lock()
	r.lines = append(r.lines, fmt.Sprint(args...))
	r.mu.Unlock()
}

func (r *recorder) logged(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.lines, func(l string) bool { return strings.Contains(l, s) })
}

// TestCaptureLogsGoesToTheTestsLog: under CaptureLogs, go-redis's own
// message about a server it cannot reach goes to the log of the test that
// started the most recent running server, and a test is no receiver once
// its Cleanup ran.
func TestCaptureLogsGoesToTheTestsLog(t *testing.T) {
	CaptureLogs()
	var outer, inner *recorder
	t.Run("servers", func(t *testing.T) {
		outer = &recorder{TB: t}
		Start(outer)
		t.Run("newer", func(t *testing.T) {
			inner = &recorder{TB: t}
			s := Start(inner)
			s.Kill()
			c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DisableIdentity: true})
			defer c.Close()
			if err := c.Ping(context.Background()).Err(); err == nil {
				t.Fatal("PING of a killed server answered")
			}
		})
	})
	const want = "go-redis: connection pool: failed to dial"
	if !inner.logged(want) || outer.logged(want) {
		t.Fatalf("newest test logged %q, older one %q: want %q in the newest only", inner.lines, outer.lines, want)
	}
	captured.mu.Lock()
	defer captured.mu.Unlock()
	if slices.Contains(captured.tests, testing.TB(inner)) || slices.Contains(captured.tests, testing.TB(outer)) {
		t.Fatalf("ended tests still receive go-redis's messages: %d receivers", len(captured.tests))
	}
}
