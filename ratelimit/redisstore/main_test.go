package redisstore

import (
	"testing"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// TestMain sends go-redis's own messages to the log of the test they
// belong to instead of stderr (redistest.CaptureLogs).
func TestMain(m *testing.M) {
	redistest.CaptureLogs()
	m.Run()
}
