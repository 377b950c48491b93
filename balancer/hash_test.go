package balancer

import (
	"fmt"
	"math"
	"net/http"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// clientIPs returns n distinct IPv4 address strings, as ip_hash keys.
func clientIPs(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	return keys
}

// placement maps every key to the backend the picker chooses for it.
func placement(p Picker, keys []string) []*backend.Backend {
	out := make([]*backend.Backend, len(keys))
	r := requestWithKey("")
	for i, k := range keys {
		r.Header.Set("X-Key", k)
		out[i] = p.Pick(r)
	}
	return out
}

func without(bs []*backend.Backend, i int) []*backend.Backend {
	out := append([]*backend.Backend(nil), bs[:i]...)
	return append(out, bs[i+1:]...)
}

// Removing one of n backends must move only about 1/n of the keys (at most
// 1.5/n of 10,000): the removed backend's keys, and few others. Adding one
// back must likewise move only about 1/(n+1).
func TestConsistentHashRemapsFewKeys(t *testing.T) {
	keys := clientIPs(10_000)
	for _, n := range []int{3, 5, 10, 30} {
		for _, gone := range []int{0, n / 2, n - 1} {
			t.Run(fmt.Sprintf("n=%d/remove=%d", n, gone), func(t *testing.T) {
				bs := makeBackends(t, equalWeights(n)...)
				bal := mustNew(t, Config{Algorithm: IPHash, HashKey: headerKey})
				before := placement(bal.Build(bs), keys)
				after := placement(bal.Build(without(bs, gone)), keys)
				moved := 0
				for i := range keys {
					if after[i] == bs[gone] {
						t.Fatalf("key %s still placed on the removed backend", keys[i])
					}
					if before[i] != after[i] {
						moved++
					}
				}
				if limit := 1.5 / float64(n) * float64(len(keys)); float64(moved) > limit {
					t.Errorf("removing 1 of %d backends moved %d of %d keys, want <= %.0f", n, moved, len(keys), limit)
				}
				back := placement(bal.Build(bs), keys)
				returned := 0
				for i := range keys {
					if back[i] != before[i] {
						t.Fatalf("key %s: %s after the backend returned, %s before it left", keys[i], back[i].Name, before[i].Name)
					}
					if back[i] != after[i] {
						returned++
					}
				}
				t.Logf("removing 1 of %d moved %.2f/n of the keys; adding it back %.2f/n", n,
					float64(moved)*float64(n)/float64(len(keys)), float64(returned)*float64(n)/float64(len(keys)))
				if limit := 1.5 / float64(n) * float64(len(keys)); float64(returned) > limit {
					t.Errorf("adding 1 backend to %d moved %d of %d keys, want <= %.0f", n-1, returned, len(keys), limit)
				}
			})
		}
	}
}

// Keys spread over backends in proportion to weight: the table's slots
// within 2% of the weight's share, 10,000 keys within 10% of it (for shares
// of at least 10%).
func TestConsistentHashFollowsWeights(t *testing.T) {
	for _, ws := range [][]int{{1, 1, 1}, {1, 2, 3}, {5, 1}, {1000, 1}, equalWeights(10), equalWeights(100)} {
		t.Run(fmt.Sprintf("%d backends %s", len(ws), weightsName(ws[:min(len(ws), 3)])), func(t *testing.T) {
			bs := makeBackends(t, ws...)
			p := mustNew(t, Config{Algorithm: URIHash, HashKey: headerKey}).Build(bs).(*hashPicker)
			total := 0
			for _, w := range ws {
				total += w
			}
			slots := make([]int, len(bs))
			for _, i := range p.table {
				slots[i]++
			}
			keys := make([]int, len(bs))
			idx := indexOf(bs)
			for _, b := range placement(p, clientIPs(10_000)) {
				keys[idx[b]]++
			}
			for i, w := range ws {
				share := float64(w) / float64(total)
				if got := float64(slots[i]) / float64(len(p.table)); math.Abs(got-share) > 0.02*share {
					t.Errorf("backend %d (weight %d): %.4f of the slots, want %.4f ± 2%%", i, w, got, share)
				}
				if share >= 0.1 { // enough keys for a 10% tolerance
					if got := float64(keys[i]) / 10_000; math.Abs(got-share) > 0.1*share {
						t.Errorf("backend %d (weight %d): %.4f of the keys, want %.4f ± 10%%", i, w, got, share)
					}
				}
			}
		})
	}
}

// The placement depends only on backend names and keys: a fresh Balancer,
// a rebuild, or another order of the same backends places keys alike.
func TestConsistentHashIsDeterministic(t *testing.T) {
	keys := clientIPs(2000)
	bs := makeBackends(t, 1, 1, 1, 1, 1)
	want := placement(mustNew(t, Config{Algorithm: HeaderHash}).Build(bs), keys)
	bal := mustNew(t, Config{Algorithm: HeaderHash})
	bal.Build(bs)
	again := placement(bal.Build(bs), keys)
	reversed := placement(bal.Build([]*backend.Backend{bs[4], bs[3], bs[2], bs[1], bs[0]}), keys)
	for i := range keys {
		if again[i] != want[i] || reversed[i] != want[i] {
			t.Fatalf("key %s: %s, then %s, then %s in reverse order", keys[i], want[i].Name, again[i].Name, reversed[i].Name)
		}
	}
}

// Requests without a key are spread by round robin.
func TestConsistentHashEmptyKeyRotates(t *testing.T) {
	bs := makeBackends(t, 1, 1, 1)
	p := mustNew(t, Config{Algorithm: HeaderHash}).Build(bs)
	letters := letterMap(bs)
	var got string
	for i := range 6 {
		r := requestWithKey("")
		if i%2 == 1 {
			r = nil
		}
		got += letters[p.Pick(r)]
	}
	if want := "abcabc"; got != want {
		t.Fatalf("keyless picks = %s, want %s", got, want)
	}
}

func TestNextPrime(t *testing.T) {
	for _, tc := range []struct{ n, want uint64 }{
		{2, 2}, {4, 5}, {1031, 1031}, {1032, 1033}, {65536, 65537}, {1 << 20, 1048583},
	} {
		if got := nextPrime(tc.n); got != tc.want {
			t.Errorf("nextPrime(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// Same key, same backend, every time.
func TestConsistentHashIsSticky(t *testing.T) {
	bs := makeBackends(t, equalWeights(7)...)
	p := mustNew(t, Config{Algorithm: IPHash, HashKey: func(r *http.Request) string { return r.RemoteAddr }}).Build(bs)
	r := requestWithKey("")
	r.RemoteAddr = "192.0.2.7"
	first := p.Pick(r)
	for range 100 {
		if got := p.Pick(r); got != first {
			t.Fatalf("same key picked %s, then %s", first.Name, got.Name)
		}
	}
}

// The table never shrinks: after a backend leaves, a smaller table would
// move almost every key.
func TestConsistentHashTableNeverShrinks(t *testing.T) {
	bs := makeBackends(t, equalWeights(1000)...)
	bal := mustNew(t, Config{Algorithm: IPHash})
	full := len(bal.Build(bs).(*hashPicker).table)
	if fewer := len(bal.Build(bs[:600]).(*hashPicker).table); fewer != full {
		t.Fatalf("table of %d slots for 1000 backends, %d for 600: it shrank", full, fewer)
	}
	if fresh := len(mustNew(t, Config{Algorithm: IPHash}).Build(bs[:600]).(*hashPicker).table); fresh >= full {
		t.Fatalf("a fresh Balancer for 600 backends used %d slots, want fewer than %d", fresh, full)
	}
}
