package ratelimit

import (
	"math"
	"testing"
	"time"
)

func TestHeaders(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name       string
		d          Decision
		rateLimit  string
		retryAfter string
	}{
		{"full bucket", Decision{Allowed: true, Remaining: 10}, `"default";r=10;t=0`, "0"},
		{"allowed, refill under a second", Decision{Allowed: true, Remaining: 9, Reset: 10 * ms}, `"default";r=9;t=1`, "0"},
		{"allowed, exact seconds", Decision{Allowed: true, Remaining: 3, Reset: 4 * time.Second}, `"default";r=3;t=4`, "0"},
		{"allowed, just past a second", Decision{Allowed: true, Remaining: 0, Reset: 2*time.Second + 1}, `"default";r=0;t=3`, "0"},
		{"refused, 10ms to wait", Decision{RetryAfter: 10 * ms, Reset: 100 * ms}, `"default";r=0;t=1`, "1"},
		{"refused, 2s to wait", Decision{RetryAfter: 2 * time.Second, Reset: 2 * time.Second}, `"default";r=0;t=2`, "2"},
		{"refused, 2.5s to wait", Decision{RetryAfter: 2500 * ms, Reset: 7 * time.Second}, `"default";r=0;t=7`, "3"},
		{"largest durations", Decision{RetryAfter: math.MaxInt64, Reset: math.MaxInt64}, `"default";r=0;t=9223372037`, "9223372037"},
		{"negative remaining is never printed", Decision{Remaining: -4}, `"default";r=0;t=0`, "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.d.AppendHeader(nil)); got != tc.rateLimit {
				t.Errorf("AppendHeader = %s, want %s", got, tc.rateLimit)
			}
			if got := string(tc.d.AppendRetryAfter(nil)); got != tc.retryAfter {
				t.Errorf("AppendRetryAfter = %s, want %s", got, tc.retryAfter)
			}
			// Appending keeps what the buffer held.
			if got := string(tc.d.AppendHeader([]byte("x: "))); got != "x: "+tc.rateLimit {
				t.Errorf("AppendHeader onto a prefix = %s", got)
			}
		})
	}
}

// TestHeadersFromLimiter ties the formatter to real decisions for the seed's
// settings: the 11th request at t0 is refused, to be retried in 1 second
// (10ms rounded up), with a full bucket 100ms away; the policy is the
// sustained 100 a second.
func TestHeadersFromLimiter(t *testing.T) {
	l := mustNew(t, seed)
	var d Decision
	for range 11 {
		d = l.Allow("k", t0)
	}
	if got := string(d.AppendHeader(nil)); got != `"default";r=0;t=1` {
		t.Errorf("RateLimit = %s", got)
	}
	if got := string(d.AppendRetryAfter(nil)); got != "1" {
		t.Errorf("Retry-After = %s", got)
	}
	if got := l.PolicyHeader(); got != `"default";q=100;w=1` {
		t.Errorf("RateLimit-Policy = %s", got)
	}
}

func TestAppendHeaderAllocatesNothing(t *testing.T) {
	d := Decision{Allowed: true, Remaining: 123456, Reset: 99 * time.Second}
	buf := make([]byte, 0, 48)
	if n := testing.AllocsPerRun(100, func() { buf = d.AppendHeader(buf[:0]) }); n != 0 {
		t.Fatalf("AppendHeader into a 48-byte buffer: %v allocations, want 0", n)
	}
	// The worst case fits the documented 48 bytes.
	worst := Decision{Remaining: math.MaxInt, Reset: math.MaxInt64}
	if n := len(worst.AppendHeader(nil)); n > 48 {
		t.Fatalf("longest RateLimit value is %d bytes, more than the documented 48", n)
	}
}
