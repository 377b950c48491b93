package redisstore

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Settings{RequestsPerSecond: 100, Burst: 10, Address: "127.0.0.1:6379"}
	tests := []struct {
		name   string
		modify func(*Settings)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(*Settings) {}, ""},
		{"fractional rate", func(s *Settings) { s.RequestsPerSecond = 0.5; s.Burst = 1 }, ""},
		{"host name", func(s *Settings) { s.Address = "redis.internal:6380" }, ""},
		{"ipv6", func(s *Settings) { s.Address = "[::1]:6379" }, ""},
		{"every option", func(s *Settings) {
			s.FailurePolicy = FailClosed
			s.LeaseSize, s.DB, s.MaxKeys = 1, 3, 10
			s.ReadTimeout = time.Second
		}, ""},
		{"zero rate", func(s *Settings) { s.RequestsPerSecond = 0 }, "requests_per_second must be a finite number greater than 0, got 0"},
		{"NaN rate", func(s *Settings) { s.RequestsPerSecond = math.NaN() }, "got NaN"},
		{"infinite rate", func(s *Settings) { s.RequestsPerSecond = math.Inf(1) }, "got +Inf"},
		{"zero burst", func(s *Settings) { s.Burst = 0 }, "burst must be between 1 and 1000000000, got 0"},
		{"huge burst", func(s *Settings) { s.Burst = 2_000_000_000 }, "got 2000000000"},
		{"endless refill", func(s *Settings) { s.RequestsPerSecond = 1e-9 }, "time to refill) must be at most 1e+09 s, got 1e+10 s"},
		{"negative max_keys", func(s *Settings) { s.MaxKeys = -1 }, "max_keys must be 0 (default 100000) or more, got -1"},
		{"no address", func(s *Settings) { s.Address = "" }, `address must be host:port, got ""`},
		{"no port", func(s *Settings) { s.Address = "localhost" }, `got "localhost"`},
		{"no host", func(s *Settings) { s.Address = ":6379" }, `got ":6379"`},
		{"bad port", func(s *Settings) { s.Address = "localhost:redis" }, `port must be 1 to 65535, got "localhost:redis"`},
		{"port zero", func(s *Settings) { s.Address = "localhost:0" }, `got "localhost:0"`},
		{"negative db", func(s *Settings) { s.DB = -2 }, "db must be 0 or more, got -2"},
		{"negative read timeout", func(s *Settings) { s.ReadTimeout = -time.Second }, "read_timeout must be 0 (default) or more, got -1s"},
		{"negative dial timeout", func(s *Settings) { s.DialTimeout = -1 }, "dial_timeout"},
		{"negative write timeout", func(s *Settings) { s.WriteTimeout = -1 }, "write_timeout"},
		{"negative probe interval", func(s *Settings) { s.ProbeInterval = -1 }, "probe_interval"},
		{"negative lease", func(s *Settings) { s.LeaseSize = -3 }, "lease_size must be 0 (default 10) or more, got -3"},
		{"unknown policy", func(s *Settings) { s.FailurePolicy = "fail_sometimes" }, `failure_policy must be "fail_open" or "fail_closed", got "fail_sometimes"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.modify(&s)
			err := s.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v; want ErrInvalidSettings with %q", err, tc.want)
			}
			if _, err := New(s); !errors.Is(err, ErrInvalidSettings) {
				t.Fatalf("New accepted what Validate refused: %v", err)
			}
		})
	}
}

func TestLease(t *testing.T) {
	tests := []struct {
		name     string
		rps      float64
		burst    int
		lease    int
		size     int
		lifetime time.Duration
		over     int
	}{
		{"seed: half the burst", 100, 10, 0, 5, 50 * time.Millisecond, 5},
		{"issue: 100 ms of traffic", 30, 30, 0, 3, 100 * time.Millisecond, 3},
		{"large limit: 10 ms of rate", 10000, 10000, 0, 100, 10 * time.Millisecond, 100},
		{"huge limit: 10 ms of rate", 1e7, 1e7, 0, 100000, 10 * time.Millisecond, 100000},
		{"explicit small cap", 10000, 10000, 10, 10, time.Millisecond, 10},
		{"explicit cap", 10000, 10000, 200, 200, 20 * time.Millisecond, 200},
		{"leases off", 100, 10, 1, 1, 10 * time.Millisecond, 0},
		{"burst of 1", 100, 1, 0, 1, 10 * time.Millisecond, 0},
		{"slow rate", 0.5, 20, 0, 1, 100 * time.Millisecond, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Settings{RequestsPerSecond: tc.rps, Burst: tc.burst, LeaseSize: tc.lease}
			size, lifetime := s.Lease()
			if size != tc.size || lifetime != tc.lifetime {
				t.Fatalf("Lease() = %d, %v; want %d, %v", size, lifetime, tc.size, tc.lifetime)
			}
			if over := s.OverAdmission(); over != tc.over {
				t.Fatalf("OverAdmission() = %d, want %d", over, tc.over)
			}
			// The property the bound rests on: a lease lives no longer than
			// the time the rate takes to refill it.
			if float64(tc.rps)*lifetime.Seconds() > float64(size)+1e-9 {
				t.Fatalf("rps × D = %v exceeds L = %d", tc.rps*lifetime.Seconds(), size)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s := Settings{RequestsPerSecond: 1, Burst: 1, Address: "localhost:6379"}.withDefaults()
	if s.KeyPrefix != DefaultKeyPrefix || s.ReadTimeout != DefaultReadTimeout ||
		s.WriteTimeout != DefaultWriteTimeout || s.DialTimeout != DefaultDialTimeout ||
		s.LeaseSize != DefaultLeaseSize || s.FailurePolicy != FailOpen ||
		s.ProbeInterval != DefaultProbeInterval || s.MaxKeys != 100_000 || s.Now == nil {
		t.Fatalf("defaults not applied: %+v", s)
	}
	custom := Settings{KeyPrefix: "x:", ReadTimeout: time.Second, FailurePolicy: FailClosed}.withDefaults()
	if custom.KeyPrefix != "x:" || custom.ReadTimeout != time.Second || custom.FailurePolicy != FailClosed {
		t.Fatalf("set fields overwritten: %+v", custom)
	}
}
