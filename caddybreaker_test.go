package smartproxy

import (
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-smartproxy/smartproxy/breaker"
	"github.com/caddy-smartproxy/smartproxy/config"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// trippedCaddyBreaker returns a CaddyBreaker tripped by one 5xx whose
// backoff has run out, so that it is half-open at the next OK.
func trippedCaddyBreaker(t *testing.T, halfOpen int) (*CaddyBreaker, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	c := &CaddyBreaker{CircuitBreaker: config.CircuitBreaker{
		FailureThreshold: 1, HalfOpenRequests: halfOpen, SuccessThreshold: 5,
		BaseBackoff: caddy.Duration(time.Second), MaxBackoff: caddy.Duration(time.Second),
	}}
	if err := c.setup(clk.now, nil); err != nil {
		t.Fatal(err)
	}
	if !c.OK() {
		t.Fatal("a new breaker refuses")
	}
	c.RecordMetric(502, time.Millisecond)
	if c.OK() {
		t.Fatal("a tripped breaker admits during its backoff")
	}
	clk.add(2 * time.Second) // beyond backoff plus jitter
	return c, clk
}

func TestCaddyBreakerHalfOpenLimit(t *testing.T) {
	for _, n := range []int{0, 1, 3} {
		want := n
		if want == 0 {
			want = breaker.DefaultHalfOpenRequests
		}
		c, _ := trippedCaddyBreaker(t, n)
		got := 0
		for range 10 {
			if c.OK() {
				got++
			}
		}
		if got != want {
			t.Errorf("half_open_requests %d: OK admitted %d of 10 probes, want %d", n, got, want)
		}
		if s := c.b.State(); s != breaker.HalfOpen {
			t.Errorf("half_open_requests %d: state %s, want half-open", n, s)
		}
	}
}

func TestCaddyBreakerProbeGrantReturned(t *testing.T) {
	c, clk := trippedCaddyBreaker(t, 1)
	if !c.OK() {
		t.Fatal("half-open breaker refuses its first probe")
	}
	if c.OK() {
		t.Fatal("second probe admitted while the first is out")
	}
	c.RecordMetric(200, time.Millisecond) // the probe's response returns its grant
	if !c.OK() {
		t.Fatal("grant not returned by the probe's response")
	}
	// A probe that never gets a response (a dial error: Caddy does not
	// report it) lapses after probe_timeout.
	if c.OK() {
		t.Fatal("second probe admitted while one is out")
	}
	clk.add(DefaultProbeTimeout - time.Millisecond)
	if c.OK() {
		t.Fatal("grant lapsed before probe_timeout")
	}
	clk.add(time.Millisecond)
	if !c.OK() {
		t.Fatal("grant did not lapse after probe_timeout")
	}
}

func TestCaddyBreakerNewPeriodResetsGrants(t *testing.T) {
	c, clk := trippedCaddyBreaker(t, 1)
	if !c.OK() {
		t.Fatal("half-open breaker refuses its probe")
	}
	c.RecordMetric(503, time.Millisecond) // the probe failed: open again
	if c.OK() {
		t.Fatal("re-opened breaker admits")
	}
	clk.add(3 * time.Second)
	if !c.OK() {
		t.Fatal("the next half-open period starts without a free grant")
	}
}

func TestCaddyBreakerProbeTimeoutRefused(t *testing.T) {
	c := &CaddyBreaker{ProbeTimeout: caddy.Duration(-time.Second)}
	if err := c.setup(time.Now, nil); err == nil {
		t.Fatal("negative probe_timeout accepted")
	}
}
