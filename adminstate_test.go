package smartproxy

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/balancer"
)

// adminPool is a live route whose members have admin state, as
// buildMember gives it them; it is live until the test ends.
func adminPool(t *testing.T, alg string, weights []int, threshold float64) (*route, []*backendAdmin) {
	t.Helper()
	ms := make([]*member, len(weights))
	admins := make([]*backendAdmin, len(weights))
	for i, w := range weights {
		b, err := backend.New("http://127.0.0.1:"+string(rune('1'+i))+"000", w)
		if err != nil {
			t.Fatal(err)
		}
		admins[i], _ = newBackendAdmin(t.Name(), b.Name)()
		totals := new(requestTotals)
		ms[i] = &member{b: b, admin: admins[i], configWeight: w,
			metrics: backendMetrics{requests: &totals.requests, failures: &totals.failures}}
	}
	bal, err := balancer.New(balancer.Config{Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	rt := &route{name: t.Name(), short: "default", pool: newPool(ms, bal, threshold)}
	h := &Handler{routes: []*route{rt}}
	key := "handler|" + t.Name()
	liveHandlers.LoadOrStore(key, liveHandler{h: h, gen: handlerGen.Add(1)})
	t.Cleanup(func() { _, _ = liveHandlers.Delete(key) })
	return rt, admins
}

// setAdmin changes a backend's admin state as the API does: the state,
// then the rebuild of the route's live pools.
func setAdmin(rt *route, a *backendAdmin, s adminState, w *int, base int) bool {
	changed := a.set(s, w, base)
	rebuildAdmin(rt.name)
	return changed
}

// picks counts n picks by member index (-1: none).
func picks(p *pool, n int) map[int]int {
	r := httptest.NewRequest("GET", "/", nil)
	got := map[int]int{}
	for range n {
		b := p.pick(r, nil)
		got[slices.IndexFunc(p.members, func(m *member) bool { return m.b == b })]++
	}
	return got
}

func TestAdminStateTakesBackendsOutAndBack(t *testing.T) {
	rt, admins := adminPool(t, "round_robin", []int{1, 1}, 0)
	p := rt.pool
	for _, tc := range []struct {
		name string
		s    adminState
		want map[int]int // picks by slot of 10 (-1: none)
	}{
		{"drain", adminDrain, map[int]int{1: 10}},
		{"maint", adminMaint, map[int]int{1: 10}},
		{"ready", adminReady, map[int]int{0: 5, 1: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setAdmin(rt, admins[0], tc.s, nil, 1)
			if got := picks(p, 10); !equalCounts(got, tc.want) {
				t.Fatalf("%s: picks %v, want %v", tc.name, got, tc.want)
			}
			if got := p.members[0].adminState(); got != tc.s {
				t.Fatalf("adminState() = %v, want %v", got, tc.s)
			}
		})
	}
	// Both out: nothing to pick, not even through a retry.
	setAdmin(rt, admins[0], adminDrain, nil, 1)
	setAdmin(rt, admins[1], adminMaint, nil, 1)
	if got := picks(p, 3); got[-1] != 3 || p.hasUntried(nil) {
		t.Fatalf("every backend out: picks %v, hasUntried %v", got, p.hasUntried(nil))
	}
}

func equalCounts(a, b map[int]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A backend back in rotation ramps up through slow start: the pool marks
// when it became available.
func TestAdminReadyStartsSlowStart(t *testing.T) {
	rt, admins := adminPool(t, "round_robin", []int{1, 1}, 0)
	b := rt.pool.members[0].b
	if !b.AvailableSince().IsZero() {
		t.Fatalf("available since %v before any change", b.AvailableSince())
	}
	setAdmin(rt, admins[0], adminDrain, nil, 1)
	before := time.Now()
	setAdmin(rt, admins[0], adminReady, nil, 1)
	if since := b.AvailableSince(); since.Before(before) {
		t.Fatalf("back in rotation: available since %v, want after %v", since, before)
	}
}

func TestAdminWeightChangesTheShare(t *testing.T) {
	rt, admins := adminPool(t, "weighted_round_robin", []int{1, 1}, 0)
	p := rt.pool
	w := 3
	if !setAdmin(rt, admins[0], adminReady, &w, 1) {
		t.Fatal("setting weight 3 reported no change")
	}
	if got := picks(p, 400); got[0] != 300 || got[1] != 100 {
		t.Fatalf("weights 3:1: picks %v, want 300 and 100", got)
	}
	if got := p.members[0].b.Weight(); got != 3 {
		t.Fatalf("live weight %d, want 3", got)
	}
	// The configured weight again drops the override.
	one := 1
	setAdmin(rt, admins[0], adminReady, &one, 1)
	if admins[0].weight.Load() != nil || p.members[0].b.Weight() != 1 {
		t.Fatalf("weight back to the configured 1: override %v, weight %d", admins[0].weight.Load(), p.members[0].b.Weight())
	}
	if got := picks(p, 400); got[0] != 200 || got[1] != 200 {
		t.Fatalf("weights 1:1: picks %v", got)
	}
}

// A config whose configured weight differs from the one an override
// replaced does not take the override: the edited config wins.
func TestAdminWeightYieldsToAnEditedConfig(t *testing.T) {
	a, _ := newBackendAdmin("r", "b")()
	w := 5
	a.set(adminReady, &w, 1)
	for _, tc := range []struct{ cfg, want int }{{1, 5}, {2, 2}} {
		if got := a.weightFor(tc.cfg); got != tc.want {
			t.Errorf("weightFor(%d) = %d, want %d", tc.cfg, got, tc.want)
		}
	}
}

// Panic mode balances over the backends left in rotation, never over a
// drained or maintained one.
func TestAdminStateOutOfPanicMode(t *testing.T) {
	up := map[int]bool{}
	rt, admins := adminPool(t, "round_robin", []int{1, 1, 1, 1}, 0.5)
	p := rt.pool
	p.isAvailable = func(b *backend.Backend) bool {
		return up[slices.IndexFunc(p.members, func(m *member) bool { return m.b == b })]
	}
	setAdmin(rt, admins[2], adminDrain, nil, 1)
	setAdmin(rt, admins[3], adminMaint, nil, 1)
	s := p.snap.Load()
	if !s.panicking || len(s.available) != 2 {
		t.Fatalf("no backend up, two drained: panicking %v over %d, want panic over the 2 in rotation", s.panicking, len(s.available))
	}
	if got := picks(p, 8); got[2] != 0 || got[3] != 0 {
		t.Fatalf("panic mode picked a drained or maintained backend: %v", got)
	}
	up[0] = true
	p.rebuild()
	if s := p.snap.Load(); s.panicking || len(s.available) != 1 {
		t.Fatalf("1 of the 2 in rotation up: panicking %v, %d available; want no panic, 1", s.panicking, len(s.available))
	}
}

func TestDecodeStateRequest(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string // want: "" ok, else a part of the error
	}{
		{"drain", `{"url": "http://a:1", "state": "drain"}`, ""},
		{"weight only", `{"url": "http://a:1", "weight": 0}`, ""},
		{"both, with route", `{"url": "http://a:1", "route": "x", "state": "maint", "weight": 7}`, ""},
		{"unknown state", `{"url": "http://a:1", "state": "down"}`, `state "down": must be "ready", "drain" or "maint"`},
		{"state case matters", `{"url": "http://a:1", "state": "DRAIN"}`, `state "DRAIN"`},
		{"negative weight", `{"url": "http://a:1", "weight": -1}`, "weight -1: must be 0 or more"},
		{"huge weight", `{"url": "http://a:1", "weight": 1000001}`, "weight 1000001: must be at most 1000000"},
		{"weight beyond int", `{"url": "http://a:1", "weight": 1e30}`, "cannot unmarshal"},
		{"fractional weight", `{"url": "http://a:1", "weight": 1.5}`, "cannot unmarshal"},
		{"weight as string", `{"url": "http://a:1", "weight": "3"}`, "cannot unmarshal"},
		{"state as number", `{"url": "http://a:1", "state": 1}`, "cannot unmarshal"},
		{"unknown key", `{"url": "http://a:1", "state": "drain", "force": true}`, `unknown field "force"`},
		{"no url", `{"state": "drain"}`, `"url" is required`},
		{"nothing to do", `{"url": "http://a:1"}`, `give "state"`},
		{"two objects", `{"url": "http://a:1", "state": "drain"}{"url": "http://b:1", "state": "drain"}`, "nothing after it"},
		{"trailing junk", `{"url": "http://a:1", "state": "drain"} x`, "nothing after it"},
		{"array", `[{"url": "http://a:1"}]`, "cannot unmarshal array"},
		{"empty", ``, "EOF"},
		{"long state is cut", `{"url": "http://a:1", "state": "` + strings.Repeat("x", 3000) + `"}`, `xxx": must be`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeStateRequest(strings.NewReader(tc.body))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errStateBody)):
				t.Fatalf("error %v, want errStateBody with %q", err, tc.want)
			case err != nil && len(err.Error()) > 300:
				t.Fatalf("the error echoes %d bytes of the request", len(err.Error()))
			}
		})
	}
}

func TestApplyBackendState(t *testing.T) {
	rt, _ := adminPool(t, "round_robin", []int{1, 2}, 0)
	four := 4
	for _, tc := range []struct {
		name    string
		req     stateRequest
		wantErr error
		check   func(t *testing.T, bs BackendStatus)
	}{
		{"drain by another spelling", stateRequest{URL: "HTTP://127.0.0.1:1000/", State: "drain"}, nil, func(t *testing.T, bs BackendStatus) {
			if bs.AdminState != "drain" || bs.Available || bs.URL != "http://127.0.0.1:1000" {
				t.Fatalf("after drain: %+v", bs)
			}
		}},
		{"weight by the route's own name", stateRequest{URL: "http://127.0.0.1:2000", Route: "default", Weight: &four}, nil, func(t *testing.T, bs BackendStatus) {
			if bs.Weight != 4 || bs.ConfiguredWeight == nil || *bs.ConfiguredWeight != 2 || bs.AdminState != "ready" || !bs.Available {
				t.Fatalf("after weight 4: %+v", bs)
			}
		}},
		{"ready by route id", stateRequest{URL: "http://127.0.0.1:1000", Route: rt.name, State: "ready"}, nil, func(t *testing.T, bs BackendStatus) {
			if bs.AdminState != "ready" || !bs.Available {
				t.Fatalf("after ready: %+v", bs)
			}
		}},
		{"unknown backend", stateRequest{URL: "http://127.0.0.1:9", State: "drain"}, errStateUnknown, nil},
		{"unknown route", stateRequest{URL: "http://127.0.0.1:1000", Route: "nope", State: "drain"}, errStateUnknown, nil},
		{"not a backend url", stateRequest{URL: "ftp://x", State: "drain"}, errStateBody, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := applyBackendState(tc.req, time.Now())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if len(out.Changed) != 1 || out.Changed[0].Route != rt.name {
				t.Fatalf("changed %+v, want the one route", out.Changed)
			}
			tc.check(t, out.Changed[0].Backend)
		})
	}
}

// The admin state costs a pick nothing: it is read when the snapshot is
// rebuilt, never per request.
func BenchmarkPickWithAdminState(b *testing.B) {
	for _, tc := range []struct {
		name  string
		admin bool
	}{{"no admin state", false}, {"two of eight drained", true}} {
		b.Run(tc.name, func(b *testing.B) {
			bs := make([]*backend.Backend, 8)
			ms := make([]*member, 8)
			for i := range bs {
				bs[i], _ = backend.New("http://127.0.0.1:"+string(rune('1'+i))+"000", 1)
				ms[i] = &member{b: bs[i], configWeight: 1}
				if tc.admin {
					ms[i].admin, _ = newBackendAdmin("r", bs[i].Name)()
				}
			}
			bal, _ := balancer.New(balancer.Config{Algorithm: "weighted_round_robin"})
			p := newPool(ms, bal, 0)
			if tc.admin {
				ms[2].admin.set(adminDrain, nil, 1)
				ms[5].admin.set(adminMaint, nil, 1)
				p.rebuild()
			}
			r := httptest.NewRequest("GET", "/", nil)
			b.ReportAllocs()
			for b.Loop() {
				if p.pick(r, nil) == nil {
					b.Fatal("no pick")
				}
			}
		})
	}
}
