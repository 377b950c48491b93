package redisstore

import (
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// newTestStore makes a Store on r with s's limits, failing the test on
// error and closing the Store when it ends.
func newTestStore(t testing.TB, r *redistest.Server, s Settings) *Store {
	t.Helper()
	s.Address = r.Addr
	st, err := New(s)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// eventually polls cond every 5 ms until it holds or within passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
