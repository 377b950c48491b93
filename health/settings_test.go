package health

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	d := Settings{}.withDefaults()
	if d.Interval != 30*time.Second || d.Timeout != 10*time.Second || d.Path != "/health" || d.Method != "GET" ||
		d.ExpectStatus != "2xx" || d.MaxBody != 64<<10 || d.HealthyThreshold != 2 || d.UnhealthyThreshold != 3 ||
		d.Jitter != 0.1 || d.InitialState != Healthy || d.PassiveFailures != 0 || d.PassiveCooldown != 30*time.Second {
		t.Fatalf("defaults %+v", d)
	}
	if got := (Settings{Interval: 4 * time.Second}).withDefaults().Timeout; got != 2*time.Second {
		t.Fatalf("timeout for a 4s interval defaults to %v, want 2s", got)
	}
	if err := (Settings{Interval: time.Second}).Validate(); err != nil {
		t.Fatalf("a short interval alone should be valid: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want []string // each must appear in the error; none = valid
	}{
		{"zero value", Settings{}, nil},
		{"full", Settings{Interval: time.Minute, Timeout: 5 * time.Second, Path: "/ready?x=1", Method: "HEAD",
			ExpectStatus: "200-204", ExpectBody: "^ok", MaxBody: 10, HealthyThreshold: 1, UnhealthyThreshold: 1,
			Jitter: 0.5, InitialState: Unhealthy, Headers: http.Header{"Host": {"x"}}, PassiveFailures: 5,
			PassiveUnhealthyStatuses: []int{502, 503}, PassiveCooldown: time.Second}, nil},
		{"negative interval", Settings{Interval: -time.Second}, []string{"interval -1s"}},
		{"negative timeout", Settings{Timeout: -time.Second}, []string{"timeout -1s"}},
		{"timeout over interval", Settings{Interval: 5 * time.Second, Timeout: 6 * time.Second}, []string{"timeout 6s", "must not exceed interval 5s"}},
		{"timeout over default interval", Settings{Timeout: time.Minute}, []string{"timeout 1m0s"}},
		{"relative path", Settings{Path: "health"}, []string{`path "health"`}},
		{"bad method", Settings{Method: "GE T"}, []string{`method "GE T"`}},
		{"bad status", Settings{ExpectStatus: "2yy"}, []string{"expect_status", `"2yy"`}},
		{"backwards status", Settings{ExpectStatus: "299-200"}, []string{"expect_status", "backwards"}},
		{"bad regex", Settings{ExpectBody: "(ok"}, []string{`expect_body "(ok"`, "missing closing )"}},
		{"negative max body", Settings{MaxBody: -1}, []string{"max_body -1"}},
		{"bad header name", Settings{Headers: http.Header{"X Bad": {"v"}}}, []string{`header name "X Bad"`}},
		{"header injection", Settings{Headers: http.Header{"X-A": {"v\r\nEvil: 1"}}}, []string{"header X-A", "CR, LF"}},
		{"negative rise", Settings{HealthyThreshold: -1}, []string{"healthy_threshold -1"}},
		{"negative fall", Settings{UnhealthyThreshold: -2}, []string{"unhealthy_threshold -2"}},
		{"negative jitter", Settings{Jitter: -0.1}, []string{"jitter -0.1"}},
		{"big jitter", Settings{Jitter: 0.6}, []string{"jitter 0.6"}},
		{"NaN jitter", Settings{Jitter: math.NaN()}, []string{"jitter NaN"}},
		{"unknown state", Settings{InitialState: 5}, []string{"initial_state State(5)"}},
		{"unhealthy without active", Settings{InitialState: Unhealthy, DisableActive: true}, []string{"initial_state unhealthy", "needs active checks"}},
		{"negative passive", Settings{PassiveFailures: -1}, []string{"passive_failures -1"}},
		{"bad passive status", Settings{PassiveUnhealthyStatuses: []int{502, 99, 600}}, []string{"passive_unhealthy_statuses 99", "passive_unhealthy_statuses 600"}},
		{"negative cooldown", Settings{PassiveCooldown: -time.Second}, []string{"passive_cooldown -1s"}},
		{"several at once", Settings{HealthyThreshold: -1, Path: "x"}, []string{"healthy_threshold -1", `path "x"`}},
		{"grpc", Settings{Type: TypeGRPC, Service: "pkg.Api"}, nil},
		{"http spelled out", Settings{Type: "http"}, nil},
		{"unknown type", Settings{Type: "tcp"}, []string{`type "tcp"`, "must be http or grpc"}},
		{"service without grpc", Settings{Service: "api"}, []string{`service "api"`, "only used by type grpc"}},
		{"service with newline", Settings{Type: TypeGRPC, Service: "a\nb"}, []string{"service", "CR, LF or NUL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSettings) {
				t.Fatalf("error %v does not wrap ErrInvalidSettings", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidateDoesNotMutate(t *testing.T) {
	s := Settings{Interval: time.Minute}
	_ = s.Validate()
	if s.Timeout != 0 || s.Path != "" {
		t.Fatalf("Validate changed its receiver: %+v", s)
	}
}

func TestStatusSet(t *testing.T) {
	var s statusSet
	for _, c := range []int{100, 502, 599, 0, 63, 64} {
		s.add(c)
	}
	for c := -5; c < 700; c++ {
		want := c == 100 || c == 502 || c == 599 || c == 0 || c == 63 || c == 64
		if s.has(c) != want {
			t.Fatalf("has(%d) = %v", c, !want)
		}
	}
}
