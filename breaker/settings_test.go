package breaker

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want string // "" for valid; else a substring naming field and value
	}{
		{"zero value", Settings{}, ""},
		{"all set", Settings{
			FailureThreshold: 3, ErrorRatio: 0.5, Window: time.Minute, MinRequests: 5,
			LatencyThreshold: time.Second, LatencyQuantile: 0.99, BaseBackoff: time.Second,
			MaxBackoff: time.Second, Jitter: 1, HalfOpenRequests: 2, SuccessThreshold: 4,
		}, ""},
		{"jitter off", Settings{Jitter: -1}, ""},
		{"ratio 1", Settings{ErrorRatio: 1}, ""},
		{"quantile 1", Settings{LatencyQuantile: 1}, ""},
		{"shortest window", Settings{Window: 10 * time.Millisecond}, ""},
		{"negative failure threshold", Settings{FailureThreshold: -1}, "failure_threshold -1"},
		{"negative ratio", Settings{ErrorRatio: -0.1}, "error_ratio -0.1"},
		{"ratio above 1", Settings{ErrorRatio: 1.5}, "error_ratio 1.5"},
		{"ratio NaN", Settings{ErrorRatio: math.NaN()}, "error_ratio NaN"},
		{"negative window", Settings{Window: -time.Second}, "window -1s"},
		{"tiny window", Settings{Window: time.Millisecond}, "window 1ms is shorter than 10ms"},
		{"negative min requests", Settings{MinRequests: -3}, "min_requests -3"},
		{"negative latency", Settings{LatencyThreshold: -time.Millisecond}, "latency_threshold -1ms"},
		{"negative quantile", Settings{LatencyQuantile: -0.5}, "latency_quantile -0.5"},
		{"quantile above 1", Settings{LatencyQuantile: 1.01}, "latency_quantile 1.01"},
		{"quantile NaN", Settings{LatencyQuantile: math.NaN()}, "latency_quantile NaN"},
		{"negative base", Settings{BaseBackoff: -time.Second}, "base_backoff -1s"},
		{"negative max", Settings{MaxBackoff: -time.Second}, "max_backoff -1s"},
		{"max below base", Settings{BaseBackoff: 2 * time.Second, MaxBackoff: time.Second}, "max_backoff 1s is below base_backoff 2s"},
		{"default max below base", Settings{BaseBackoff: 2 * time.Minute}, "max_backoff 1m0s is below base_backoff 2m0s"},
		{"jitter above 1", Settings{Jitter: 1.2}, "jitter 1.2"},
		{"jitter NaN", Settings{Jitter: math.NaN()}, "jitter NaN"},
		{"negative half-open", Settings{HalfOpenRequests: -2}, "half_open_requests -2"},
		{"negative success", Settings{SuccessThreshold: -1}, "success_threshold -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			_, newErr := New(tc.s)
			if tc.want == "" {
				if err != nil || newErr != nil {
					t.Fatalf("Validate() = %v, New() = %v, want nil", err, newErr)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tc.want)
			}
			if !errors.Is(err, ErrInvalidSettings) || !errors.Is(newErr, ErrInvalidSettings) {
				t.Errorf("errors %v / %v do not wrap ErrInvalidSettings", err, newErr)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	d := Settings{}.withDefaults()
	if d.FailureThreshold != 5 || d.Window != 10*time.Second || d.MinRequests != 20 ||
		d.LatencyQuantile != 0.9 || d.BaseBackoff != time.Second || d.MaxBackoff != time.Minute ||
		d.Jitter != 0.1 || d.HalfOpenRequests != 1 || d.SuccessThreshold != 1 ||
		d.Now == nil || d.Rand == nil || d.windowed() {
		t.Fatalf("defaults %+v", d)
	}
	if d := (Settings{HalfOpenRequests: 4}).withDefaults(); d.SuccessThreshold != 4 {
		t.Errorf("SuccessThreshold default = %d, want HalfOpenRequests 4", d.SuccessThreshold)
	}
	if d := (Settings{Jitter: -0.5}).withDefaults(); d.Jitter != 0 {
		t.Errorf("negative Jitter became %v, want 0 (off)", d.Jitter)
	}
}
