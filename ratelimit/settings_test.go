package ratelimit

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

// policyCases are the settings the RateLimit-Policy tests check, with
// the header each advertises.
var policyCases = []struct {
	name   string
	rps    float64
	burst  int
	header string
}{
	{"seed: refill under a second", 100, 10, `"default";q=100;w=1`},
	{"burst of one second", 5, 10, `"default";q=5;w=1`},
	{"three a second", 3, 10, `"default";q=3;w=1`},
	{"rate needs two seconds", 1.5, 10, `"default";q=3;w=2`},
	{"half a request a second", 0.5, 1, `"default";q=1;w=2`},
	{"float noise forgiven", 0.3, 3, `"default";q=3;w=10`},
	{"slow, no window fits the bucket", 0.3, 1, `"default";q=1;w=4`},
	{"one per second", 1, 1, `"default";q=1;w=1`},
	{"tiny bucket, fast rate", 1000, 1, `"default";q=1000;w=1`},
	{"fractional fast rate", 7.5, 3, `"default";q=7;w=1`},
	{"absurdly slow rate is capped", 1e-300, 1, `"default";q=1;w=4611686018427387903`},
}

func TestPolicyHeader(t *testing.T) {
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			s := Settings{RequestsPerSecond: tc.rps, Burst: tc.burst}
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
			if _, w := s.Policy(); s.PolicyWindow() != w {
				t.Errorf("PolicyWindow() = %d, Policy's w = %d", s.PolicyWindow(), w)
			}
		})
	}
}

// TestPolicyAgainstLimiter holds the advertised policy to the limiter: a
// client that obeys it by spreading q requests evenly over each w seconds
// is never refused, and one that sends the whole quota at the start of
// each window is never refused when the quota fits the bucket; and the
// advertised rate q/w is at most the real rate and at least half of it, so
// an obeying client is never throttled 10x (or even 2x) below the limit.
func TestPolicyAgainstLimiter(t *testing.T) {
	for _, tc := range policyCases {
		if tc.rps < 1e-6 {
			continue // windows of 10^300 seconds cannot be walked through
		}
		t.Run(tc.name, func(t *testing.T) {
			s := Settings{RequestsPerSecond: tc.rps, Burst: tc.burst}
			q, w := s.Policy()
			rate := float64(q) / float64(w)
			if rate > tc.rps*(1+1e-9) || rate < tc.rps/2 {
				t.Fatalf("policy q=%d;w=%d advertises %v/s for a limit of %v/s", q, w, rate, tc.rps)
			}
			const windows = 20
			window := time.Duration(w) * time.Second
			// Spread: request k at ceil(k*w/q) seconds, never early.
			paced := mustNew(t, s)
			for k := int64(0); k < windows*q; k++ {
				ns := (k*int64(window) + q - 1) / q
				if d := paced.Allow("client", t0.Add(time.Duration(ns))); !d.Allowed {
					t.Fatalf("paced request %d of %d (at +%v) refused under policy q=%d;w=%d", k, windows*q, time.Duration(ns), q, w)
				}
			}
			if q > int64(tc.burst) {
				return // a client must not bunch more than the burst
			}
			bunched := mustNew(t, s)
			for win := range int64(windows) {
				at := t0.Add(time.Duration(win) * window)
				for i := range q {
					if d := bunched.Allow("client", at); !d.Allowed {
						t.Fatalf("request %d of window %d refused, policy q=%d;w=%d", i, win, q, w)
					}
				}
			}
		})
	}
}
