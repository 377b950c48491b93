package smartproxy

import (
	"fmt"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/balancer"
)

// historyRoute is a route of n backends with real request totals and
// latency histograms, not registered as live.
func historyRoute(t testing.TB, name string, n int) *route {
	t.Helper()
	members := make([]*member, n)
	for i := range members {
		b, err := backend.New(fmt.Sprintf("http://10.1.0.%d:80", i), 1)
		if err != nil {
			t.Fatal(err)
		}
		totals := new(requestTotals)
		members[i] = &member{b: b, metrics: backendMetrics{requests: &totals.requests, failures: &totals.failures, latency: &totals.latency}}
	}
	bal, err := balancer.New(balancer.Config{Algorithm: "round_robin"})
	if err != nil {
		t.Fatal(err)
	}
	return &route{name: name, pool: newPool(members, bal, 0)}
}

// serve counts n requests to m, failed of them failing, each answered in d.
func serve(m *member, n, failed int, d time.Duration) {
	for i := range n {
		m.metrics.requests.Add(1)
		if i < failed {
			m.metrics.failures.Add(1)
		}
		m.metrics.latency.observe(d)
	}
}

func TestHistoryPoints(t *testing.T) {
	rt := historyRoute(t, "hist", 2)
	t0 := time.Unix(1_700_000_000, 0)
	s := newHistorySampler(nil)
	m0, m1 := rt.pool.members[0], rt.pool.members[1]
	serve(m0, 50, 0, time.Millisecond) // before tracking: not in any point
	s.sample([]*route{rt}, t0)

	serve(m0, 100, 10, 2*time.Millisecond)
	s.sample([]*route{rt}, t0.Add(10*time.Second))
	serve(m0, 30, 0, 40*time.Millisecond)
	h, p50, p99 := s.view("hist", m0, t0.Add(15*time.Second))
	if len(h.Points) != 2 {
		t.Fatalf("%d points, want 2 (one sampled, one live)", len(h.Points))
	}
	p := h.Points[0]
	if p.RequestsPerSecond != 10 || p.ErrorRate == nil || *p.ErrorRate != 0.1 {
		t.Errorf("first point: %v req/s, error rate %v; want 10 and 0.1", p.RequestsPerSecond, p.ErrorRate)
	}
	if p.P50MS == nil || *p.P50MS < 1.5 || *p.P50MS > 2.5 {
		t.Errorf("first point p50 %v, want about 2 ms", p.P50MS)
	}
	live := h.Points[1]
	if live.RequestsPerSecond != 6 || *live.ErrorRate != 0 || *live.P99MS < 30 || *live.P99MS > 50 {
		t.Errorf("live point %+v, want 6 req/s, no errors, p99 about 40 ms", live)
	}
	// The percentiles cover everything since tracking began (under a
	// window old): 100 at 2 ms, 30 at 40 ms.
	if p50 == nil || *p50 > 2.5 || p99 == nil || *p99 < 30 {
		t.Errorf("status percentiles p50 %v p99 %v", p50, p99)
	}

	// A backend that never answered: no error rate, no percentiles.
	h, p50, p99 = s.view("hist", m1, t0.Add(15*time.Second))
	if p50 != nil || p99 != nil {
		t.Errorf("idle backend has percentiles %v %v", *p50, *p99)
	}
	for _, p := range h.Points {
		if p.ErrorRate != nil || p.P50MS != nil || p.RequestsPerSecond != 0 {
			t.Errorf("idle backend point %+v, want nulls and 0 req/s", p)
		}
	}
	m1.metrics.requests.Add(3) // three tries, no answer
	m1.metrics.failures.Add(3)
	h, p50, _ = s.view("hist", m1, t0.Add(16*time.Second))
	if last := h.Points[len(h.Points)-1]; last.ErrorRate == nil || *last.ErrorRate != 1 || last.P50MS != nil || p50 != nil {
		t.Errorf("never-answering backend: %+v, p50 %v; want error rate 1, no latency", last, p50)
	}
}

func TestHistoryRingAndWindow(t *testing.T) {
	rt := historyRoute(t, "ring", 1)
	m := rt.pool.members[0]
	s := newHistorySampler(nil)
	t0 := time.Unix(1_700_000_000, 0)
	s.sample([]*route{rt}, t0)
	serve(m, 10, 0, 500*time.Millisecond) // slow, long ago
	for i := 1; i <= historyLen+20; i++ {
		serve(m, 10, 0, time.Millisecond)
		s.sample([]*route{rt}, t0.Add(time.Duration(i)*historyInterval))
	}
	h, _, p99 := s.view("ring", m, t0.Add(time.Duration(historyLen+20)*historyInterval))
	if len(h.Points) != historyLen {
		t.Fatalf("%d points, want the ring's %d", len(h.Points), historyLen)
	}
	for i := 1; i < len(h.Points); i++ {
		if !h.Points[i].T.After(h.Points[i-1].T) {
			t.Fatalf("points out of order at %d", i)
		}
	}
	if p99 == nil || *p99 > 2 {
		t.Errorf("p99 %v: the slow answers of long ago are still in the window", p99)
	}
}

func TestHistoryForgetsAndCaps(t *testing.T) {
	s := newHistorySampler(nil)
	big := historyRoute(t, "big", historyMaxBackends+5)
	t0 := time.Unix(1_700_000_000, 0)
	s.sample([]*route{big}, t0)
	if len(s.backends) != historyMaxBackends {
		t.Fatalf("%d backends tracked, want the cap %d", len(s.backends), historyMaxBackends)
	}
	last := big.pool.members[historyMaxBackends+4]
	if h, _, _ := s.view("big", last, t0); h != nil {
		t.Error("a backend beyond the cap has a history")
	}
	s.sample(nil, t0.Add(historyInterval))
	if len(s.backends) != 0 {
		t.Errorf("%d backends kept after their route left", len(s.backends))
	}
}

func TestHistorySamplerStops(t *testing.T) {
	var hs holds
	if err := acquireHistory(&hs); err != nil {
		t.Fatal(err)
	}
	s := currentHistory()
	if s == nil {
		t.Fatal("no sampler while held")
	}
	hs.releaseAll()
	select {
	case <-s.done:
	default:
		t.Fatal("the sampler's goroutine outlived the last release")
	}
	if currentHistory() != nil {
		t.Fatal("a sampler remains after the last release")
	}
}

func BenchmarkHistorySample(b *testing.B) {
	rt := historyRoute(b, "bench", 100)
	s := newHistorySampler(nil)
	t0 := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for i := range b.N {
		s.sample([]*route{rt}, t0.Add(time.Duration(i)*historyInterval))
	}
}
