package smartproxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/balancer"
)

// TestPoolBackups: with every algorithm, backups get no request while a
// primary is available, all of them while none is, and the primaries take
// over again as soon as one is back.
func TestPoolBackups(t *testing.T) {
	for _, alg := range balancer.Names() {
		t.Run(alg, func(t *testing.T) {
			bs := testBackends(t, 4)
			ms := members(bs)
			ms[2].backup, ms[3].backup = true, true
			down := map[*backend.Backend]bool{}
			cfg := balancer.Config{Algorithm: alg}
			if balancer.NeedsHashKey(alg) {
				cfg.HashKey = func(r *http.Request) string { return r.URL.RawQuery }
			}
			bal, err := balancer.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			p := newPool(ms, bal, 0)
			p.isAvailable = func(b *backend.Backend) bool { return !down[b] }
			p.rebuild()
			picked := func() map[*backend.Backend]int {
				seen := map[*backend.Backend]int{}
				for i := range 64 {
					r := httptest.NewRequest("GET", "/?k="+string(rune('a'+i%26)), nil)
					if b := p.pick(r, nil); b != nil {
						seen[b]++
					}
				}
				return seen
			}
			onlyFrom := func(step string, want ...*backend.Backend) {
				t.Helper()
				seen := picked()
				for b := range seen {
					if !contains(want, b) {
						t.Fatalf("%s: picked %s, want only %v", step, b.Name, names(want))
					}
				}
				if len(seen) == 0 {
					t.Fatalf("%s: nothing picked", step)
				}
			}
			onlyFrom("primaries up", bs[0], bs[1])
			down[bs[0]] = true
			p.rebuild()
			onlyFrom("one primary up", bs[1])
			if p.snap.Load().backups {
				t.Fatal("a primary is available, yet the snapshot says backups")
			}
			down[bs[1]] = true
			p.rebuild()
			onlyFrom("every primary down", bs[2], bs[3])
			if !p.snap.Load().backups {
				t.Fatal("no primary is available, yet the snapshot does not say backups")
			}
			down[bs[1]] = false
			p.rebuild()
			onlyFrom("a primary back", bs[1])
			down[bs[1]], down[bs[2]], down[bs[3]] = true, true, true
			p.rebuild()
			if seen := picked(); len(seen) != 0 {
				t.Fatalf("nothing available, yet picked %d backends", len(seen))
			}
		})
	}
}

// TestPoolBackupsPanicWithinTier: panic mode spreads over the tier that
// serves (the primaries while one is up), never onto backups.
func TestPoolBackupsPanicWithinTier(t *testing.T) {
	bs := testBackends(t, 5)
	ms := members(bs)
	ms[4].backup = true
	up := map[*backend.Backend]bool{bs[0]: true, bs[4]: true}
	bal, _ := balancer.New(balancer.Config{})
	p := newPool(ms, bal, 0.5)
	p.isAvailable = func(b *backend.Backend) bool { return up[b] }
	p.rebuild()
	s := p.snap.Load()
	if !s.panicking || s.backups || len(s.available) != 4 || contains(s.available, bs[4]) {
		t.Fatalf("1 of 4 primaries up: panicking %v backups %v, available %v; want the 4 primaries", s.panicking, s.backups, names(s.available))
	}
}

func names(bs []*backend.Backend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Name
	}
	return out
}

// A pick costs the same with backups configured, whichever tier serves,
// and after the members changed (discovery): one snapshot load, no lock,
// no allocation; the member is found from the picked backend in O(1).
func BenchmarkPoolPick(b *testing.B) {
	for _, tc := range []struct {
		name                   string
		backups, primDown, dyn bool
	}{
		{"static", false, false, false},
		{"backups idle", true, false, false},
		{"backups serving", true, true, false},
		{"after a membership change", false, false, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bs := make([]*backend.Backend, 8)
			for i := range bs {
				bs[i], _ = backend.New("http://127.0.0.1:"+string(rune('1'+i))+"000", 1)
			}
			ms := members(bs)
			if tc.backups {
				ms[6].backup, ms[7].backup = true, true
			}
			bal, _ := balancer.New(balancer.Config{Algorithm: "round_robin"})
			p := newPool(ms[:6], bal, 0)
			if tc.primDown {
				p.isAvailable = func(b *backend.Backend) bool { return b == bs[6] || b == bs[7] }
			}
			p.setMembers(ms)
			if tc.dyn {
				p.setMembers(append(ms[2:], ms[:2]...))
			}
			r := httptest.NewRequest("GET", "/", nil)
			b.ReportAllocs()
			for b.Loop() {
				pb := p.pick(r, nil)
				if pb == nil || p.member(pb).b != pb {
					b.Fatal("no pick")
				}
			}
		})
	}
}
