package balancer

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// makeBackends returns one backend per weight, named b0, b1, ...
func makeBackends(t testing.TB, weights ...int) []*backend.Backend {
	t.Helper()
	bs := make([]*backend.Backend, len(weights))
	for i, w := range weights {
		b, err := backend.New(fmt.Sprintf("http://b%d.test:8080", i), w)
		if err != nil {
			t.Fatal(err)
		}
		bs[i] = b
	}
	return bs
}

// equalWeights returns n weights of 1.
func equalWeights(n int) []int {
	ws := make([]int, n)
	for i := range ws {
		ws[i] = 1
	}
	return ws
}

// mustNew builds a strategy or fails the test. Hash strategies get a key
// function reading the X-Key header.
func mustNew(t testing.TB, cfg Config) Balancer {
	t.Helper()
	if NeedsHashKey(cfg.Algorithm) && cfg.HashKey == nil {
		cfg.HashKey = headerKey
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func headerKey(r *http.Request) string { return r.Header.Get("X-Key") }

// requestWithKey returns a request whose X-Key header is key.
func requestWithKey(key string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://proxy.test/", nil)
	if key != "" {
		r.Header.Set("X-Key", key)
	}
	return r
}

// indexOf maps backends to their position, for counting picks.
func indexOf(bs []*backend.Backend) map[*backend.Backend]int {
	m := make(map[*backend.Backend]int, len(bs))
	for i, b := range bs {
		m[b] = i
	}
	return m
}

// countPicks picks n times (releasing nothing is acquired) and returns how
// often each backend was chosen; a nil pick fails the test.
func countPicks(t testing.TB, p Picker, bs []*backend.Backend, r *http.Request, n int) []int {
	t.Helper()
	idx := indexOf(bs)
	counts := make([]int, len(bs))
	for range n {
		b := p.Pick(r)
		i, ok := idx[b]
		if !ok {
			t.Fatalf("picked %v, not one of the backends", b)
		}
		counts[i]++
	}
	return counts
}

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct{ nanos atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.nanos.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.nanos.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }

// epoch is an arbitrary fixed instant the fake clocks start at.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
