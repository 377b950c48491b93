package breaker

import (
	"testing"
	"time"
)

func TestBackoffDoublesToCap(t *testing.T) {
	b, clk, _ := newTest(t, Settings{
		FailureThreshold: 1,
		BaseBackoff:      time.Second,
		MaxBackoff:       10 * time.Second,
	})
	want := []time.Duration{1, 2, 4, 8, 10, 10, 10}
	tripNow(t, b)
	for i, w := range want {
		w *= time.Second
		if got := b.CurrentBackoff(); got != w {
			t.Fatalf("trip %d: CurrentBackoff() = %v, want %v", i+1, got, w)
		}
		if got := b.NextProbe().Sub(clk.Now()); got != w {
			t.Fatalf("trip %d: NextProbe in %v, want %v", i+1, got, w)
		}
		if c := b.Counts(); c.ConsecutiveTrips != i+1 || c.Trips != uint64(i+1) {
			t.Fatalf("trip %d: counts %+v", i+1, c)
		}
		clk.Advance(w)
		outcome(t, b, false, 0) // the probe fails: open again
		wantState(t, b, Open)
	}
}

func TestBackoffHelper(t *testing.T) {
	const huge = time.Duration(1 << 62)
	tests := []struct {
		base, max time.Duration
		trips     int
		want      time.Duration
	}{
		{time.Second, time.Minute, 1, time.Second},
		{time.Second, time.Minute, 2, 2 * time.Second},
		{time.Second, time.Minute, 6, 32 * time.Second},
		{time.Second, time.Minute, 7, time.Minute},
		{time.Second, time.Minute, 1000, time.Minute},
		{time.Second, time.Second, 3, time.Second},
		{huge, huge + huge/2, 5, huge + huge/2}, // no overflow
	}
	for _, tc := range tests {
		t.Run(tc.want.String(), func(t *testing.T) {
			if got := backoff(tc.base, tc.max, tc.trips); got != tc.want {
				t.Errorf("backoff(%v, %v, %d) = %v, want %v", tc.base, tc.max, tc.trips, got, tc.want)
			}
		})
	}
}

func TestJitterBounds(t *testing.T) {
	tests := []struct {
		name   string
		jitter float64
		rand   float64
		want   time.Duration // for the first trip of a 10s base
	}{
		{"off", -1, 0, 10 * time.Second},
		{"lowest factor", 0.1, 0, 9 * time.Second},
		{"middle factor", 0.1, 0.5, 10 * time.Second},
		{"near highest factor", 0.1, 0.999999, 10*time.Second + 999998*time.Microsecond},
		{"half jitter low", 0.5, 0, 5 * time.Second},
		{"full jitter high", 1, 0.75, 15 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _, _ := newTest(t, Settings{
				FailureThreshold: 1,
				BaseBackoff:      10 * time.Second,
				Jitter:           tc.jitter,
				Rand:             func() float64 { return tc.rand },
			})
			tripNow(t, b)
			if got := b.CurrentBackoff(); got != tc.want {
				t.Errorf("CurrentBackoff() = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("default source stays in bounds while doubling", func(t *testing.T) {
		c := newClock()
		b, err := New(Settings{FailureThreshold: 1, MaxBackoff: 16 * time.Second, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		tripNow(t, b)
		seen := map[time.Duration]bool{}
		for trip := 1; trip <= 50; trip++ {
			base := backoff(time.Second, 16*time.Second, trip)
			lo, hi := base*9/10, base*11/10
			got := b.CurrentBackoff()
			if got < lo || got > hi {
				t.Fatalf("trip %d: backoff %v outside [%v, %v]", trip, got, lo, hi)
			}
			seen[got] = true
			c.Advance(got)
			outcome(t, b, false, 0)
		}
		if len(seen) < 10 {
			t.Errorf("only %d distinct open times in 50 trips: jitter is not random", len(seen))
		}
	})
}
