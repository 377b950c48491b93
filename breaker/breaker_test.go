package breaker

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStateStringAndGauge(t *testing.T) {
	tests := []struct {
		s     State
		name  string
		gauge int
	}{
		{Closed, "closed", 0},
		{HalfOpen, "half-open", 1},
		{Open, "open", 2},
		{State(7), "unknown", 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
			if int(tc.s) != tc.gauge {
				t.Errorf("gauge value = %d, want %d", int(tc.s), tc.gauge)
			}
		})
	}
}

func TestTripsAfterConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name      string
		threshold int
		outcomes  string // S success, F failure
		tripAt    int    // index of the outcome that trips; -1 for none
	}{
		{"default five", 0, "FFFFF", 4},
		{"default four is not enough", 0, "FFFF", -1},
		{"threshold one", 1, "SSF", 2},
		{"threshold three", 3, "FFF", 2},
		{"success resets the run", 3, "FFSFFSFF", -1},
		{"run after reset trips", 3, "FFSFFF", 5},
		{"successes only", 2, "SSSSSS", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _, _ := newTest(t, Settings{FailureThreshold: tc.threshold})
			for i, o := range tc.outcomes {
				outcome(t, b, o == 'S', time.Millisecond)
				want := Closed
				if tc.tripAt >= 0 && i >= tc.tripAt {
					want = Open
				}
				if got := b.Counts().State; got != want {
					t.Fatalf("after outcome %d (%c): state %v, want %v", i, o, got, want)
				}
				if want == Open {
					break
				}
			}
			wantTrips := uint64(0)
			if tc.tripAt >= 0 {
				wantTrips = 1
			}
			if got := b.Trips(); got != wantTrips {
				t.Errorf("Trips() = %d, want %d", got, wantTrips)
			}
		})
	}
}

func TestOpenRefusesUntilBackoff(t *testing.T) {
	b, clk, _ := newTest(t, Settings{FailureThreshold: 1, BaseBackoff: 3 * time.Second})
	tripNow(t, b)
	start := clk.Now()
	if got, want := b.NextProbe(), start.Add(3*time.Second); !got.Equal(want) {
		t.Fatalf("NextProbe() = %v, want %v", got, want)
	}
	clk.Advance(3*time.Second - time.Nanosecond)
	if _, err := b.Allow(); !errors.Is(err, ErrOpen) {
		t.Fatalf("Allow just before backoff: err = %v, want ErrOpen", err)
	}
	if b.Ready(clk.Now()) {
		t.Fatal("Ready just before backoff = true")
	}
	if b.State() != Open {
		t.Fatal("State just before backoff is not open")
	}
	clk.Advance(time.Nanosecond)
	if !b.Ready(clk.Now()) {
		t.Fatal("Ready at backoff = false")
	}
	wantState(t, b, Open) // Ready changes nothing
	if _, err := b.Allow(); err != nil {
		t.Fatalf("Allow at backoff: %v", err)
	}
	wantState(t, b, HalfOpen)
	if !b.NextProbe().IsZero() {
		t.Errorf("NextProbe() in half-open = %v, want zero", b.NextProbe())
	}
}

func TestStateMovesToHalfOpenLazily(t *testing.T) {
	b, clk, rec := newTest(t, Settings{FailureThreshold: 1})
	tripNow(t, b)
	clk.Advance(time.Second)
	wantState(t, b, Open)
	if got := b.State(); got != HalfOpen {
		t.Fatalf("State() after backoff = %v, want half-open", got)
	}
	got := rec.all()
	if len(got) != 2 || got[1].from != Open || got[1].to != HalfOpen {
		t.Fatalf("transitions = %+v, want closed->open, open->half-open", got)
	}
	// State moved it, so the probe slot is still free.
	must(t, b)
}

func TestHalfOpenProbeLimit(t *testing.T) {
	for _, n := range []int{1, 2, 5} {
		t.Run(strings.Repeat("p", n), func(t *testing.T) {
			b, clk, _ := newTest(t, Settings{FailureThreshold: 1, HalfOpenRequests: n, SuccessThreshold: n + 1})
			tripNow(t, b)
			clk.Advance(time.Second)
			probes := make([]Done, n)
			for i := range probes {
				probes[i] = must(t, b)
			}
			if _, err := b.Allow(); !errors.Is(err, ErrTooManyProbes) {
				t.Fatalf("probe %d: err = %v, want ErrTooManyProbes", n+1, err)
			}
			if b.Ready(clk.Now()) {
				t.Fatal("Ready with all probe slots taken = true")
			}
			if got := b.Counts().ProbesInFlight; got != int64(n) {
				t.Fatalf("ProbesInFlight = %d, want %d", got, n)
			}
			probes[0].Report(true, 0)
			if !b.Ready(clk.Now()) {
				t.Fatal("Ready after a probe reported = false")
			}
			probes[0] = must(t, b)
			if _, err := b.Allow(); !errors.Is(err, ErrTooManyProbes) {
				t.Fatalf("after refill: err = %v, want ErrTooManyProbes", err)
			}
			probes[0].Discard()
			probes[0] = must(t, b) // Discard freed the slot
			if c := b.Counts(); c.ProbeSuccesses != 1 || c.State != HalfOpen {
				t.Fatalf("Discard counted an outcome: %+v", c)
			}
		})
	}
}

func TestSuccessStreakClosesAndResetsBackoff(t *testing.T) {
	tests := []struct {
		name              string
		halfOpen, success int
		wantSuccessThresh int
	}{
		{"defaults", 0, 0, 1},
		{"success threshold follows half-open requests", 3, 0, 3},
		{"sequential probes", 1, 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, clk, rec := newTest(t, Settings{
				FailureThreshold: 1,
				HalfOpenRequests: tc.halfOpen,
				SuccessThreshold: tc.success,
			})
			// Two trips so the backoff has grown.
			tripNow(t, b)
			clk.Advance(time.Second)
			outcome(t, b, false, 0)
			if b.CurrentBackoff() != 2*time.Second {
				t.Fatalf("second trip backoff %v, want 2s", b.CurrentBackoff())
			}
			clk.Advance(2 * time.Second)
			for i := 1; i <= tc.wantSuccessThresh; i++ {
				wantState(t, b, map[bool]State{true: Open, false: HalfOpen}[i == 1])
				outcome(t, b, true, 0)
			}
			wantState(t, b, Closed)
			if b.CurrentBackoff() != 0 || b.Counts().ConsecutiveTrips != 0 {
				t.Fatalf("backoff not reset: %+v", b.Counts())
			}
			last := rec.all()[len(rec.all())-1]
			if last.from != HalfOpen || last.to != Closed {
				t.Fatalf("last transition %+v, want half-open -> closed", last)
			}
			tripNow(t, b)
			if got := b.CurrentBackoff(); got != time.Second {
				t.Errorf("backoff after close and trip = %v, want base 1s", got)
			}
			if got := b.Trips(); got != 3 {
				t.Errorf("Trips() = %d, want 3", got)
			}
		})
	}
}

func TestFailedProbeReopensWithDoubledBackoff(t *testing.T) {
	b, clk, rec := newTest(t, Settings{FailureThreshold: 2, SuccessThreshold: 3, BaseBackoff: 500 * time.Millisecond})
	tripNow(t, b)
	clk.Advance(500 * time.Millisecond)
	outcome(t, b, true, 0)
	outcome(t, b, true, 0)
	outcome(t, b, false, 0) // fails after two successes: the streak does not save it
	wantState(t, b, Open)
	if got := b.CurrentBackoff(); got != time.Second {
		t.Fatalf("backoff after failed probe = %v, want 1s", got)
	}
	want := []State{Closed, Open, HalfOpen, Open}
	got := rec.all()
	if len(got) != len(want)-1 {
		t.Fatalf("transitions %+v", got)
	}
	for i, tr := range got {
		if tr.from != want[i] || tr.to != want[i+1] {
			t.Fatalf("transition %d = %v->%v, want %v->%v", i, tr.from, tr.to, want[i], want[i+1])
		}
	}
	if !strings.Contains(got[2].reason, "probe failed") {
		t.Errorf("reason %q does not say the probe failed", got[2].reason)
	}
	// The next round starts a new streak.
	clk.Advance(time.Second)
	outcome(t, b, true, 0)
	if c := b.Counts(); c.ProbeSuccesses != 1 {
		t.Fatalf("streak after re-open = %d, want 1", c.ProbeSuccesses)
	}
}

func TestStaleOutcomesAreIgnored(t *testing.T) {
	b, clk, _ := newTest(t, Settings{FailureThreshold: 2})
	early := must(t, b) // admitted while closed, reported after the trip
	tripNow(t, b)
	clk.Advance(time.Second)
	probe := must(t, b)
	early.Report(true, 0)
	wantState(t, b, HalfOpen)
	if c := b.Counts(); c.ProbeSuccesses != 0 || c.Ignored != 1 {
		t.Fatalf("closed-generation outcome counted in half-open: %+v", c)
	}
	probe.Report(false, 0) // re-open
	clk.Advance(2 * time.Second)
	probe2 := must(t, b)
	probe.Report(true, 0) // twice by mistake, and from an old generation
	if c := b.Counts(); c.ProbeSuccesses != 0 || c.ProbesInFlight != 1 || c.Ignored != 2 {
		t.Fatalf("old probe outcome counted: %+v", c)
	}
	probe2.Report(true, 0)
	wantState(t, b, Closed)
	// A failure from before the close does not count towards a new trip.
	early.Report(false, 0)
	early.Report(false, 0)
	wantState(t, b, Closed)
	if c := b.Counts(); c.ConsecutiveFailures != 0 {
		t.Fatalf("stale failures counted: %+v", c)
	}
	Done{}.Report(false, 0) // the zero Done is inert
	Done{}.Discard()
}

func TestHookMayCallBreaker(t *testing.T) {
	c := newClock()
	var b *Breaker
	var seen []State
	b, err := New(Settings{
		FailureThreshold: 1,
		Jitter:           -1,
		Now:              c.Now,
		OnStateChange: func(from, to State, reason string) {
			// Re-entering must neither deadlock nor deliver out of order.
			seen = append(seen, b.State(), b.Counts().State)
			if to == Open {
				c.Advance(time.Second)
				if _, err := b.Allow(); err != nil { // moves to half-open inside the hook
					t.Errorf("Allow inside hook: %v", err)
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	must(t, b).Report(false, 0)
	// The first call sees the breaker open, then moves it on with its own
	// Allow; that transition is delivered after the first call returns.
	want := []State{Open, Open, HalfOpen, HalfOpen}
	if len(seen) != len(want) {
		t.Fatalf("hook saw %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("hook saw %v, want %v", seen, want)
		}
	}
}

func TestHookPanicDoesNotWedgeDelivery(t *testing.T) {
	rec := &recorder{}
	panicked := false
	b, clk, _ := newTest(t, Settings{
		FailureThreshold: 1,
		OnStateChange: func(from, to State, reason string) {
			if !panicked {
				panicked = true
				panic("hook bug")
			}
			rec.hook(from, to, reason)
		},
	})
	func() {
		defer func() { _ = recover() }()
		must(t, b).Report(false, 0)
	}()
	clk.Advance(time.Second)
	must(t, b)
	if got := rec.all(); len(got) != 1 || got[0].to != HalfOpen {
		t.Fatalf("after a panicking hook: transitions %+v, want open->half-open", got)
	}
}
