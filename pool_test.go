package smartproxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/balancer"
	"github.com/caddy-smartproxy/smartproxy/h1"
)

func members(bs []*backend.Backend) []*member {
	ms := make([]*member, len(bs))
	for i, b := range bs {
		ms[i] = &member{b: b}
	}
	return ms
}

func newTestPool(bs []*backend.Backend, bal balancer.Balancer, avail func(*backend.Backend) bool, threshold float64) *pool {
	p := newPool(members(bs), bal, threshold)
	p.isAvailable = avail
	p.rebuild()
	return p
}

func testBackends(t testing.TB, n int) []*backend.Backend {
	t.Helper()
	bs := make([]*backend.Backend, n)
	for i := range bs {
		b, err := backend.New("http://127.0.0.1:"+string(rune('1'+i))+"000", 1)
		if err != nil {
			t.Fatal(err)
		}
		bs[i] = b
	}
	return bs
}

func TestPoolPickSkipsTriedBackends(t *testing.T) {
	bs := testBackends(t, 3)
	bal, _ := balancer.New(balancer.Config{})
	p := newTestPool(bs, bal, nil, 0)
	r := httptest.NewRequest("GET", "/", nil)
	var tried []*backend.Backend
	for range 3 {
		b := p.pick(r, tried)
		if b == nil || contains(tried, b) {
			t.Fatalf("pick %v with tried %v", b, tried)
		}
		tried = append(tried, b)
	}
	if b := p.pick(r, tried); b != nil {
		t.Fatalf("every backend tried, yet pick gave %s", b.Name)
	}
}

func TestPoolRebuildFollowsAvailability(t *testing.T) {
	bs := testBackends(t, 2)
	down := map[*backend.Backend]bool{bs[0]: true}
	bal, _ := balancer.New(balancer.Config{})
	p := newTestPool(bs, bal, func(b *backend.Backend) bool { return !down[b] }, 0)
	r := httptest.NewRequest("GET", "/", nil)
	for range 4 {
		if b := p.pick(r, nil); b != bs[1] {
			t.Fatalf("picked %v, want the only available backend", b)
		}
	}
	down[bs[1]] = true
	p.rebuild()
	if b := p.pick(r, nil); b != nil {
		t.Fatalf("no backend is available, yet pick gave %s", b.Name)
	}
}

func TestNoAvailableBackendIs503(t *testing.T) {
	bs := testBackends(t, 2)
	bal, _ := balancer.New(balancer.Config{})
	rt := &route{name: "default", pool: newTestPool(bs, bal, func(*backend.Backend) bool { return false }, 0), retry: newRetryPolicy(nil), metrics: newRouteMetrics("test")}
	h := &Handler{logger: zap.NewNop(), def: rt}
	w := httptest.NewRecorder()
	err := h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil), nil)
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable || !errors.Is(err, errNoBackend) {
		t.Fatalf("got %v, want a caddyhttp 503 error wrapping errNoBackend", err)
	}
}

func TestStatusError(t *testing.T) {
	live := httptest.NewRequest("GET", "/", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := live.WithContext(ctx)
	cases := []struct {
		name string
		r    *http.Request
		err  error
		want int
	}{
		{"client gone", gone, errors.New("anything"), 499},
		{"canceled", live, context.Canceled, 499},
		{"deadline", live, context.DeadlineExceeded, 504},
		{"other", live, errors.New("connection reset"), 502},
		{"dial refused", live, h1.DialError{Err: errors.New("connection refused")}, 503},
	}
	for _, tc := range cases {
		var he caddyhttp.HandlerError
		if err := statusError(tc.r, tc.err); !errors.As(err, &he) || he.StatusCode != tc.want {
			t.Errorf("%s: got %v, want status %d", tc.name, err, tc.want)
		}
	}
}

func TestPoolPanicThreshold(t *testing.T) {
	bs := testBackends(t, 4)
	up := map[*backend.Backend]bool{bs[0]: true, bs[1]: true}
	bal, _ := balancer.New(balancer.Config{})
	p := newTestPool(bs, bal, func(b *backend.Backend) bool { return up[b] }, 0.5)
	// 2 of 4 available is not below half: only those two are used.
	if s := p.snap.Load(); s.panicking || len(s.available) != 2 {
		t.Fatalf("2/4 available with threshold 0.5: panicking %v, %d available", s.panicking, len(s.available))
	}
	delete(up, bs[1])
	p.rebuild()
	// 1 of 4 is below half: balance over all four.
	s := p.snap.Load()
	if !s.panicking || len(s.available) != 4 {
		t.Fatalf("1/4 available with threshold 0.5: panicking %v, %d available", s.panicking, len(s.available))
	}
	seen := map[*backend.Backend]bool{}
	r := httptest.NewRequest("GET", "/", nil)
	for range 8 {
		seen[p.pick(r, nil)] = true
	}
	if len(seen) != 4 {
		t.Fatalf("panic mode picked %d distinct backends, want all 4", len(seen))
	}
}
