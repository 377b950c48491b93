package smartproxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/caddy-smartproxy/smartproxy/balancer"
	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/h1"
)

func TestRetryDecision(t *testing.T) {
	bs := testBackends(t, 3)
	bal, _ := balancer.New(balancer.Config{})
	newRoute := func() *route {
		return &route{name: "r", pool: newTestPool(bs, bal, nil, 0), retry: newRetryPolicy(nil), metrics: newRouteMetrics("retry-test")}
	}
	h := &Handler{logger: zap.NewNop()}
	dial := fmt.Errorf("backend x: %w", h1.DialError{Err: errors.New("refused")})
	refused := fmt.Errorf("backend x: %w", errBreakerRefused)
	reset := errors.New("connection reset after the request was sent")
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	live := httptest.NewRequest("GET", "/", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := live.WithContext(ctx)
	cases := []struct {
		name       string
		r          *http.Request
		tried      int
		retries    int
		resp       *http.Response
		err        error
		replayable bool
		want       bool
		wantCount  int
	}{
		{"502 replayable", live, 1, 0, resp(502), nil, true, true, 1},
		{"502 not replayable (POST)", live, 1, 0, resp(502), nil, false, false, 0},
		{"500 is an answer, not retried", live, 1, 0, resp(500), nil, true, false, 0},
		{"200", live, 1, 0, resp(200), nil, true, false, 0},
		{"dial error, any request, costs no retry", live, 1, 0, nil, dial, false, true, 0},
		{"sent, then reset, replayable", live, 1, 0, nil, reset, true, true, 1},
		{"sent, then reset, POST", live, 1, 0, nil, reset, false, false, 0},
		{"retry count spent", live, 2, 1, nil, reset, true, false, 1},
		{"retry count spent, dial error moves on", live, 2, 1, nil, dial, true, true, 1},
		{"breaker refusal costs no retry", live, 2, 1, nil, refused, false, true, 1},
		{"client gone", gone, 1, 0, nil, dial, true, false, 0},
		{"every backend tried", live, 3, 0, nil, dial, true, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt := newRoute()
			st := retryState{r: tc.r, rt: rt, logger: h.logger, replayable: tc.replayable, retries: tc.retries}
			got := st.again(bs[:tc.tried], &try{resp: tc.resp, err: tc.err})
			if got != tc.want || st.retries != tc.wantCount {
				t.Fatalf("again = %v with %d retries; want %v with %d", got, st.retries, tc.want, tc.wantCount)
			}
			if st.retrying {
				rt.retry.retrying.Add(-1)
			}
		})
	}
}

func TestRetryBudget(t *testing.T) {
	p := newRetryPolicy(nil) // budget 0.2, at least 3 in flight
	p.active.Store(10)
	for i := range 3 {
		if !p.admitRetry() {
			t.Fatalf("retry %d refused below the minimum concurrency", i)
		}
	}
	if p.admitRetry() {
		t.Fatal("a 4th concurrent retry admitted with 10 requests in flight (budget 20% = 2, floor 3)")
	}
	p.active.Store(100)
	for i := 3; i < 20; i++ {
		if !p.admitRetry() {
			t.Fatalf("retry %d refused with 100 in flight (budget 20)", i)
		}
	}
	if p.admitRetry() {
		t.Fatal("retry 21 admitted with 100 in flight")
	}
}

func TestDecide(t *testing.T) {
	dial := fmt.Errorf("backend x: %w", h1.DialError{Err: errors.New("refused")})
	refused := fmt.Errorf("backend x: %w", errBreakerRefused)
	client := fmt.Errorf("backend x: %w", &clientError{status: 400, err: errors.New("bad chunk")})
	reset := errors.New("connection reset")
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	cases := []struct {
		name       string
		resp       *http.Response
		err        error
		replayable bool
		want       verdict
	}{
		{"503, replayable", resp(503), nil, true, retryable},
		{"504, not replayable", resp(504), nil, false, final},
		{"404", resp(404), nil, true, final},
		{"dial error", nil, dial, false, moveOn},
		{"breaker refusal", nil, refused, false, moveOn},
		{"reset, replayable", nil, reset, true, retryable},
		{"reset, not replayable", nil, reset, false, final},
		{"the request's fault", nil, client, true, final},
		{"500 not listed", resp(500), nil, true, final},
		{"429 not listed", resp(429), nil, true, final},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := decide(tc.resp, tc.err, tc.replayable, &defaultRetryStatuses); got != tc.want {
				t.Fatalf("decide = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestRetryOnStatusAndMethods(t *testing.T) {
	one := 1
	p := newRetryPolicy(&config.Retries{Count: &one, OnStatus: []int{500, 429}, Methods: []string{"GET", "POST"}})
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	for _, tc := range []struct {
		code int
		want verdict
	}{{500, retryable}, {429, retryable}, {502, final}, {503, final}, {200, final}} {
		if got := decide(resp(tc.code), nil, true, &p.onStatus); got != tc.want {
			t.Errorf("on_status [500 429]: %d gives %d, want %d", tc.code, got, tc.want)
		}
	}
	for _, tc := range []struct {
		method, key string
		want        bool
	}{
		{"GET", "", true}, {"POST", "", true}, {"PUT", "", false}, {"DELETE", "", false},
		{"PATCH", "", false}, {"PATCH", "k1", true},
	} {
		r := httptest.NewRequest(tc.method, "/", nil)
		if tc.key != "" {
			r.Header.Set("Idempotency-Key", tc.key)
		}
		if got := p.mayResend(r); got != tc.want {
			t.Errorf("methods [GET POST]: %s (key %q) may be resent: %v, want %v", tc.method, tc.key, got, tc.want)
		}
	}
	def := newRetryPolicy(nil)
	for m, want := range map[string]bool{"GET": true, "PUT": true, "POST": false, "PATCH": false} {
		if got := def.mayResend(httptest.NewRequest(m, "/", nil)); got != want {
			t.Errorf("default methods: %s may be resent: %v, want %v", m, got, want)
		}
	}
}
