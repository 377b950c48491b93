package smartproxy

import (
	"fmt"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/balancer"
)

// statusRoute registers a live handler with one route of n backends, of
// which those for which down(i) holds are kept out of the snapshot, and
// returns the route; the registration ends with the test.
func statusRoute(tb testing.TB, name string, n int, down func(int) bool) *route {
	tb.Helper()
	members := make([]*member, n)
	slot := make(map[*backend.Backend]int, n)
	for i := range members {
		b, err := backend.New(fmt.Sprintf("http://10.%d.%d.%d:80", i>>16&255, i>>8&255, i&255), 1)
		if err != nil {
			tb.Fatal(err)
		}
		totals := new(requestTotals)
		slot[b] = i
		members[i] = &member{b: b, metrics: backendMetrics{requests: &totals.requests, failures: &totals.failures}}
	}
	bal, err := balancer.New(balancer.Config{Algorithm: "round_robin"})
	if err != nil {
		tb.Fatal(err)
	}
	p := newPool(members, bal, 0)
	p.isAvailable = func(b *backend.Backend) bool { return !down(slot[b]) }
	p.rebuild()
	rt := &route{name: name, pool: p, algorithm: "round_robin"}
	h := &Handler{routes: []*route{rt}}
	key := fmt.Sprintf("handler|%p", h)
	liveHandlers.LoadOrStore(key, liveHandler{h: h, gen: handlerGen.Add(1)})
	tb.Cleanup(func() { _, _ = liveHandlers.Delete(key) })
	return rt
}

func routeStatus(tb testing.TB, name string) RouteStatus {
	tb.Helper()
	for _, rs := range status(time.Now()).Routes {
		if rs.Name == name {
			return rs
		}
	}
	tb.Fatalf("route %q not in the status document", name)
	return RouteStatus{}
}

func TestStatusAvailableFlags(t *testing.T) {
	cases := []struct {
		name string
		n    int
		down func(int) bool
	}{
		{"all available", 5, func(int) bool { return false }},
		{"none available", 4, func(int) bool { return true }},
		{"odd ones down", 7, func(i int) bool { return i%2 == 1 }},
		{"first and last down", 6, func(i int) bool { return i == 0 || i == 5 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "status-test/" + tc.name
			statusRoute(t, name, tc.n, tc.down)
			rs := routeStatus(t, name)
			if len(rs.Backends) != tc.n {
				t.Fatalf("%d backends in the document, want %d", len(rs.Backends), tc.n)
			}
			avail := 0
			for i, bs := range rs.Backends {
				if bs.Available == tc.down(i) {
					t.Errorf("backend %d (%s): available %v, want %v", i, bs.URL, bs.Available, !tc.down(i))
				}
				if bs.Available {
					avail++
				}
			}
			if rs.Available != avail {
				t.Errorf("route available %d, backends marked available %d", rs.Available, avail)
			}
		})
	}
}

// BenchmarkStatus50k is one poll of the status page against a route of
// 50,000 backends, a tenth of them down.
func BenchmarkStatus50k(b *testing.B) {
	const name = "status-bench"
	statusRoute(b, name, 50000, func(i int) bool { return i%10 == 3 })
	b.ReportAllocs()
	for b.Loop() {
		if rs := routeStatus(b, name); rs.Available != 45000 {
			b.Fatalf("available %d, want 45000", rs.Available)
		}
	}
}
