package cache

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want string // substring of the error; "" means valid
	}{
		{"zero value", Settings{}, ""},
		{"seed values", Settings{MaxSize: 1000, TTL: 300 * time.Second}, ""},
		{"negative max_size", Settings{MaxSize: -1}, "max_size -1"},
		{"negative max_bytes", Settings{MaxBytes: -5}, "max_bytes -5"},
		{"negative max_entry_bytes", Settings{MaxEntryBytes: -2}, "max_entry_bytes -2"},
		{"negative max_variants", Settings{MaxVariants: -3}, "max_variants -3"},
		{"negative ttl", Settings{TTL: -time.Second}, "ttl -1s"},
		{"negative max_ttl", Settings{MaxTTL: -time.Second}, "max_ttl -1s"},
		{"negative stale_if_error", Settings{StaleIfError: -time.Minute}, "stale_if_error -1m0s"},
		{"negative coalesce_timeout", Settings{CoalesceTimeout: -time.Millisecond}, "coalesce_timeout -1ms"},
		{"entry over total", Settings{MaxBytes: 1000, MaxEntryBytes: 2000}, "max_entry_bytes 2000 exceeds max_bytes 1000"},
		{"entry over default total", Settings{MaxEntryBytes: DefaultMaxBytes + 1}, "exceeds max_bytes"},
		{"small total, default entry", Settings{MaxBytes: 4096}, ""},
		{"status 206", Settings{CacheableStatuses: []int{200, 206}}, "cacheable_statuses: 206"},
		{"status 99", Settings{CacheableStatuses: []int{99}}, "cacheable_statuses: 99"},
		{"bad name", Settings{Name: "a b"}, `name "a b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := New(tc.s); err != nil {
					t.Fatalf("New() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidSettings) {
				t.Fatalf("Validate() = %v, want ErrInvalidSettings containing %q", err, tc.want)
			}
			if _, err := New(tc.s); !errors.Is(err, ErrInvalidSettings) {
				t.Fatalf("New() = %v, want ErrInvalidSettings", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := New(Settings{MaxBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Settings()
	if s.MaxSize != DefaultMaxSize || s.MaxVariants != DefaultMaxVariants || s.MaxEntryBytes != 4096 || s.CoalesceTimeout != DefaultCoalesceTimeout ||
		s.Name != DefaultName || s.Now == nil || len(s.CacheableStatuses) == 0 {
		t.Fatalf("defaults not applied: %+v", s)
	}
	c, _ = New(Settings{})
	if s := c.Settings(); s.MaxBytes != DefaultMaxBytes || s.MaxEntryBytes != DefaultMaxEntryBytes {
		t.Fatalf("byte defaults: %d %d", s.MaxBytes, s.MaxEntryBytes)
	}
}
