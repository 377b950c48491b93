package ratelimit

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want []string // substrings of the error; nil means valid
	}{
		{"seed", Settings{RequestsPerSecond: 100, Burst: 10}, nil},
		{"fractional rate", Settings{RequestsPerSecond: 0.5, Burst: 1}, nil},
		{"explicit max keys", Settings{RequestsPerSecond: 1, Burst: 1, MaxKeys: 7}, nil},
		{"global", Settings{RequestsPerSecond: 1, Burst: 1, Global: true}, nil},
		{"zero rate", Settings{Burst: 10}, []string{"requests_per_second", "got 0"}},
		{"negative rate", Settings{RequestsPerSecond: -2.5, Burst: 10}, []string{"requests_per_second", "got -2.5"}},
		{"NaN rate", Settings{RequestsPerSecond: math.NaN(), Burst: 10}, []string{"requests_per_second", "got NaN"}},
		{"infinite rate", Settings{RequestsPerSecond: math.Inf(1), Burst: 10}, []string{"requests_per_second", "got +Inf"}},
		{"zero burst", Settings{RequestsPerSecond: 100}, []string{"burst", "got 0"}},
		{"negative burst", Settings{RequestsPerSecond: 100, Burst: -3}, []string{"burst", "got -3"}},
		{"negative max keys", Settings{RequestsPerSecond: 100, Burst: 10, MaxKeys: -1}, []string{"max_keys", "got -1"}},
		{"huge max keys", Settings{RequestsPerSecond: 100, Burst: 10, MaxKeys: math.MaxInt32 + 1}, []string{"max_keys", "got 2147483648"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := New(tc.s); err != nil {
					t.Fatalf("New() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			if !errors.Is(err, ErrInvalidSettings) {
				t.Errorf("error %q does not wrap ErrInvalidSettings", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if l, err := New(tc.s); err == nil || l != nil {
				t.Errorf("New() = %v, %v; want nil and an error", l, err)
			}
		})
	}
}

func TestPolicyHeader(t *testing.T) {
	tests := []struct {
		name   string
		rps    float64
		burst  int
		window int64
		header string
	}{
		{"seed: refill under a second", 100, 10, 1, `"default";q=10;w=1`},
		{"exact seconds", 5, 10, 2, `"default";q=10;w=2`},
		{"rounded up", 3, 10, 4, `"default";q=10;w=4`},
		{"half a request a second", 0.5, 1, 2, `"default";q=1;w=2`},
		{"float noise forgiven", 0.3, 3, 10, `"default";q=3;w=10`},
		{"one per second", 1, 1, 1, `"default";q=1;w=1`},
		{"absurdly slow rate is capped", 1e-300, 1, math.MaxInt64 / 2, `"default";q=1;w=4611686018427387903`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Settings{RequestsPerSecond: tc.rps, Burst: tc.burst}
			if got := s.PolicyWindow(); got != tc.window {
				t.Errorf("PolicyWindow() = %d, want %d", got, tc.window)
			}
			if got := s.PolicyHeader(); got != tc.header {
				t.Errorf("PolicyHeader() = %s, want %s", got, tc.header)
			}
			l, err := New(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.PolicyHeader(); got != tc.header {
				t.Errorf("Limiter.PolicyHeader() = %s, want %s", got, tc.header)
			}
		})
	}
}

// TestPolicyIsAPromise checks the claim made for PolicyWindow: a client that
// makes q requests at the start of every w-second window is never refused.
func TestPolicyIsAPromise(t *testing.T) {
	for _, s := range []Settings{
		{RequestsPerSecond: 100, Burst: 10},
		{RequestsPerSecond: 3, Burst: 10},
		{RequestsPerSecond: 0.3, Burst: 3},
		{RequestsPerSecond: 0.7, Burst: 5},
	} {
		l, err := New(s)
		if err != nil {
			t.Fatal(err)
		}
		w := s.PolicyWindow()
		for win := int64(0); win < 20; win++ {
			at := t0.Add(secs(float64(win * w)))
			for i := 0; i < s.Burst; i++ {
				if d := l.Allow("client", at); !d.Allowed {
					t.Fatalf("%+v: request %d of window %d refused, policy %s", s, i, win, s.PolicyHeader())
				}
			}
		}
	}
}
