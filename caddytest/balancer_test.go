package caddytest

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

func weighted(b *backend, w int) map[string]any { return map[string]any{"url": b.URL, "weight": w} }

func hitsOf(bs ...*backend) []int64 {
	out := make([]int64, len(bs))
	for i, b := range bs {
		out[i] = b.hits.Load()
	}
	return out
}

func TestWeightedRoundRobinSeedWeights(t *testing.T) {
	b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
	start(t, map[string]any{
		"backends":      []map[string]any{weighted(b1, 1), weighted(b2, 2)},
		"load_balancer": map[string]any{"algorithm": "weighted_round_robin"},
	})
	c := newClient()
	for range 30 {
		get(t, c, "/")
	}
	if h := hitsOf(b1, b2); h[0] != 10 || h[1] != 20 {
		t.Fatalf("weights 1:2 over 30 requests gave %v, want [10 20]", h)
	}
}

func TestRandomAndP2CSpread(t *testing.T) {
	for _, alg := range []string{"random", "p2c"} {
		t.Run(alg, func(t *testing.T) {
			b1, b2 := newBackend(t, "b1", nil), newBackend(t, "b2", nil)
			start(t, map[string]any{
				"backends":      []map[string]any{weighted(b1, 1), weighted(b2, 2)},
				"load_balancer": map[string]any{"algorithm": alg},
			})
			c := newClient()
			const n = 600
			for range n {
				get(t, c, "/")
			}
			// Sequential requests leave nothing in flight, so p2c reduces
			// to two weighted draws: both follow the 1:2 weights.
			share := float64(b2.hits.Load()) / n
			if share < 0.55 || share > 0.78 {
				t.Fatalf("%s: the weight-2 backend got %.2f of requests, want about 2/3 (hits %v)", alg, share, hitsOf(b1, b2))
			}
		})
	}
}

func TestLeastConnectionsAvoidsBusyBackend(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	busyStarted := make(chan struct{})
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			once.Do(func() { close(busyStarted) })
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
		fmt.Fprint(w, "slow")
	})
	fast := newBackend(t, "fast", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			once.Do(func() { close(busyStarted) })
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
		fmt.Fprint(w, "fast")
	})
	start(t, map[string]any{
		"backends":      backends(slow, fast),
		"load_balancer": map[string]any{"algorithm": "least_connections"},
	})
	c := newClient()
	held := make(chan string, 1)
	go func() {
		_, body := get(t, c, "/hold")
		held <- body
	}()
	<-busyStarted
	busy := slow
	idle := fast
	if fast.hits.Load() == 1 {
		busy, idle = fast, slow
	}
	for i := range 6 {
		if _, body := get(t, c, "/"); body != idle.name {
			t.Fatalf("request %d went to %q while %s is busy; least_connections must pick the idle %s", i, body, busy.name, idle.name)
		}
	}
	close(release)
	<-held
}

func TestHashStrategiesAreSticky(t *testing.T) {
	cases := []struct {
		alg   string
		extra map[string]any
		vary  func(i int) (path string, hdr []string)
	}{
		{"uri_hash", nil, func(i int) (string, []string) { return fmt.Sprintf("/item/%d", i), nil }},
		{"header_hash", map[string]any{"hash_header": "X-User"}, func(i int) (string, []string) {
			return "/", []string{"X-User", fmt.Sprintf("user-%d", i)}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.alg, func(t *testing.T) {
			b1, b2, b3 := newBackend(t, "b1", nil), newBackend(t, "b2", nil), newBackend(t, "b3", nil)
			lb := map[string]any{"algorithm": tc.alg}
			for k, v := range tc.extra {
				lb[k] = v
			}
			start(t, map[string]any{"backends": backends(b1, b2, b3), "load_balancer": lb})
			c := newClient()
			owners := map[string]bool{}
			for i := range 30 {
				path, hdr := tc.vary(i)
				_, first := get(t, c, path, hdr...)
				for range 3 {
					if _, again := get(t, c, path, hdr...); again != first {
						t.Fatalf("key %d went to %s, then %s", i, first, again)
					}
				}
				owners[first] = true
			}
			if len(owners) != 3 {
				t.Fatalf("30 keys landed on %d of 3 backends", len(owners))
			}
		})
	}
}

func TestIPHashUsesClientIP(t *testing.T) {
	b1, b2, b3 := newBackend(t, "b1", nil), newBackend(t, "b2", nil), newBackend(t, "b3", nil)
	start(t, map[string]any{"backends": backends(b1, b2, b3), "load_balancer": map[string]any{"algorithm": "ip_hash"}})
	owners := map[string]bool{}
	for i := 1; i <= 20; i++ {
		c := clientFrom(fmt.Sprintf("127.0.1.%d", i))
		_, first := get(t, c, "/")
		for j := range 3 {
			// A forged X-Forwarded-For must not move the client.
			_, again := get(t, c, "/", "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", j))
			if again != first {
				t.Fatalf("client %d went to %s, then %s", i, first, again)
			}
		}
		owners[first] = true
	}
	if len(owners) < 2 {
		t.Fatalf("20 client IPs all landed on %v", owners)
	}
}

func TestLeastLatencyPrefersFastBackend(t *testing.T) {
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		fmt.Fprint(w, "slow")
	})
	fast := newBackend(t, "fast", nil)
	start(t, map[string]any{"backends": backends(slow, fast), "load_balancer": map[string]any{"algorithm": "least_latency"}})
	c := newClient()
	for range 40 {
		get(t, c, "/")
	}
	if s := slow.hits.Load(); s > 8 {
		t.Fatalf("the 30ms backend got %d of 40 requests; least_latency should favour the fast one (hits %v)", s, hitsOf(slow, fast))
	}
}
