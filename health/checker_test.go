package health

import (
	"context"
	"errors"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scripted is a CheckFunc that answers from a script per target and
// counts its calls.
type scripted struct {
	mu     sync.Mutex
	script map[string]string // 'P' pass, 'F' fail; past the end: pass
	calls  map[string]int
}

func (s *scripted) check(_ context.Context, t Target) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.calls[t.Name]
	s.calls[t.Name]++
	if sc := s.script[t.Name]; i < len(sc) && sc[i] == 'F' {
		return errProbe
	}
	return nil
}

func (s *scripted) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

// The check loop runs only when the clock says so, and its results move
// the state by the rise/fall rules.
func TestCheckLoopOnFakeClock(t *testing.T) {
	clk := newFakeClock()
	sc := &scripted{script: map[string]string{"a": "PPFFF", "b": "PPPPP"}, calls: map[string]int{}}
	s := Settings{Interval: 10 * time.Second, UnhealthyThreshold: 3}
	c, obs := startedChecker(t, s, clk, []Target{{Name: "a"}, {Name: "b"}}, WithCheck(sc.check))
	clk.waitArmed(t, 2)
	if sc.count("a") != 0 {
		t.Fatal("checked before the first delay")
	}
	clk.Advance(500 * time.Millisecond) // first delay is rand*jitter*interval = 0.5s
	clk.waitArmed(t, 2)
	if sc.count("a") != 1 || sc.count("b") != 1 {
		t.Fatalf("after the first delay: %d and %d checks, want 1 each", sc.count("a"), sc.count("b"))
	}
	for step := 2; step <= 5; step++ {
		clk.Advance(9999 * time.Millisecond)
		if sc.count("a") != step-1 {
			t.Fatalf("checked before the interval was up")
		}
		clk.Advance(time.Millisecond)
		clk.waitArmed(t, 2)
		if sc.count("a") != step {
			t.Fatalf("step %d: %d checks", step, sc.count("a"))
		}
		if want := step < 5; (c.State("a") == Healthy) != want {
			t.Fatalf("step %d: state %v", step, c.State("a"))
		}
	}
	if got := arrows(obs.transitions()); !slices.Equal(got, []string{"a:healthy>unhealthy"}) {
		t.Fatalf("observer saw %v", got)
	}
	if st, _ := c.Status("a"); !errors.Is(st.LastError, errProbe) || st.Failures != 3 {
		t.Fatalf("status %+v", st)
	}
}

func TestJitterBounds(t *testing.T) {
	for _, u := range []float64{0, 0.25, 0.5, 0.999999} {
		c, err := New(Settings{Interval: 10 * time.Second, Jitter: 0.2}, []Target{{Name: "a"}},
			WithCheck(func(context.Context, Target) error { return nil }), withRand(func() float64 { return u }))
		if err != nil {
			t.Fatal(err)
		}
		if d := c.firstDelay(); d < 0 || d >= 2*time.Second {
			t.Errorf("u=%v: first delay %v outside [0, 2s)", u, d)
		}
		if d := c.nextDelay(); d < 8*time.Second || d >= 12*time.Second {
			t.Errorf("u=%v: next delay %v outside [8s, 12s)", u, d)
		}
	}
	// With the real random source, the delays of many targets differ.
	c, _ := New(Settings{}, []Target{{Name: "a"}}, WithCheck(func(context.Context, Target) error { return nil }))
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[c.nextDelay()] = true
	}
	if len(seen) < 2 {
		t.Fatal("next delays are not jittered")
	}
}

// A check that outlives its timeout fails, whether it honours ctx or not.
func TestTimeoutCountsAsFailure(t *testing.T) {
	for _, honours := range []bool{true, false} {
		c, err := New(Settings{Interval: time.Second, Timeout: time.Millisecond, UnhealthyThreshold: 1}, []Target{{Name: "a"}},
			WithCheck(func(ctx context.Context, _ Target) error {
				<-ctx.Done()
				if honours {
					return ctx.Err()
				}
				return nil
			}))
		if err != nil {
			t.Fatal(err)
		}
		c.checkOnce(context.Background(), c.targets[0])
		st, _ := c.Status("a")
		if st.State != Unhealthy || !errors.Is(st.LastError, context.DeadlineExceeded) {
			t.Fatalf("honours ctx=%v: status %+v", honours, st)
		}
	}
}

// A check cut short by Stop says nothing about the backend.
func TestCheckCancelledByStopIsDropped(t *testing.T) {
	c, _ := New(Settings{UnhealthyThreshold: 1}, []Target{{Name: "a"}},
		WithCheck(func(ctx context.Context, _ Target) error { <-ctx.Done(); return ctx.Err() }))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.checkOnce(ctx, c.targets[0])
	if st, _ := c.Status("a"); st.State != Healthy || !st.LastCheck.IsZero() {
		t.Fatalf("cancelled check was counted: %+v", st)
	}
}

func TestCheckPanicIsAFailure(t *testing.T) {
	var logged atomic.Int32
	c, _ := New(Settings{UnhealthyThreshold: 1}, []Target{{Name: "a"}},
		WithCheck(func(context.Context, Target) error { panic("kaput") }),
		WithLogger(func(string, ...any) { logged.Add(1) }))
	c.checkOnce(context.Background(), c.targets[0])
	st, _ := c.Status("a")
	if st.State != Unhealthy || st.LastError == nil || !strings.Contains(st.LastError.Error(), "kaput") || logged.Load() != 1 {
		t.Fatalf("status %+v, logged %d", st, logged.Load())
	}
}

// Stop (or the end of ctx) leaves no goroutine behind, and Start, Stop
// are safe to repeat.
func TestStopLeavesNoGoroutine(t *testing.T) {
	for _, how := range []string{"stop", "cancel"} {
		t.Run(how, func(t *testing.T) {
			before := runtime.NumGoroutine()
			var calls atomic.Int32
			targets := make([]Target, 8)
			for i := range targets {
				targets[i] = Target{Name: string(rune('a' + i))}
			}
			c, err := New(Settings{Interval: 2 * time.Millisecond}, targets,
				WithCheck(func(context.Context, Target) error { calls.Add(1); return nil }))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c.Start(ctx)
			c.Start(ctx) // no second set of goroutines
			eventually(t, "checks to run", func() bool { return calls.Load() >= 16 })
			if how == "cancel" {
				cancel()
			}
			c.Stop()
			if c.Record("a").bind.Load() != nil {
				t.Fatal("records still attached when Stop returned")
			}
			c.Stop()
			eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
			n := calls.Load()
			c.Start(ctx) // after Stop: does nothing
			if c.Record("a").bind.Load() != nil {
				t.Fatal("records still attached after Stop")
			}
			if runtime.NumGoroutine() > before || calls.Load() != n {
				t.Fatal("Start after Stop ran checks again")
			}
		})
	}
}

func TestStopWithoutStart(t *testing.T) {
	c, err := New(Settings{}, []Target{{Name: "a"}}, WithCheck(func(context.Context, Target) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
}

func TestLookupsByName(t *testing.T) {
	c, err := New(Settings{}, []Target{{Name: "a"}}, WithCheck(func(context.Context, Target) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	if c.State("a") != Healthy || c.State("zz") != Unhealthy {
		t.Fatal("State by name")
	}
	if _, ok := c.Status("zz"); ok {
		t.Fatal("Status of an unknown name")
	}
	if c.Record("zz") != nil || c.Record("a") == nil {
		t.Fatal("Record by name")
	}
}

func TestNewRejectsBadTargets(t *testing.T) {
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	shared := NewRecord(Healthy)
	tests := []struct {
		name    string
		s       Settings
		targets []Target
		want    string // in the error; "" = no error
	}{
		{"ok", Settings{}, []Target{{Name: "a", URL: u("http://127.0.0.1:1")}}, ""},
		{"no name", Settings{}, []Target{{URL: u("http://x")}}, "target 0 has no name"},
		{"duplicate", Settings{}, []Target{{Name: "a", URL: u("http://x")}, {Name: "a", URL: u("http://y")}}, `"a": name used twice`},
		{"shared record", Settings{}, []Target{{Name: "a", URL: u("http://x"), Record: shared}, {Name: "b", URL: u("http://y"), Record: shared}}, `"b": shares its Record with "a"`},
		{"no url", Settings{}, []Target{{Name: "a"}}, `"a": url <nil>`},
		{"bad scheme", Settings{}, []Target{{Name: "a", URL: u("ftp://x")}}, "ftp://x"},
		{"no host", Settings{}, []Target{{Name: "a", URL: u("http:///p")}}, "want a host"},
		{"h2c", Settings{}, []Target{{Name: "a", URL: u("h2c://x:1")}}, ""},
		{"grpc over h2c", Settings{Type: TypeGRPC}, []Target{{Name: "a", URL: u("h2c://x:1")}, {Name: "b", URL: u("https://y")}}, ""},
		{"grpc over http/1.1", Settings{Type: TypeGRPC}, []Target{{Name: "a", URL: u("http://x:1")}}, "a grpc check needs h2c:// or https://"},
		{"passive only needs no url", Settings{DisableActive: true}, []Target{{Name: "a"}}, ""},
		{"bad settings", Settings{Interval: -1}, []Target{{Name: "a", URL: u("http://x")}}, "interval -1ns"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.s, tc.targets)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !errors.Is(err, ErrInvalidTarget) && !errors.Is(err, ErrInvalidSettings) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
		})
	}
}

func TestProbeURL(t *testing.T) {
	base, _ := url.Parse("https://user@backend:8443/prefix/?q=1#frag")
	c, err := New(Settings{Path: "/status?full=1"}, []Target{{Name: "a", URL: base}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.targets[0].probeURL, "https://user@backend:8443/status?full=1"; got != want {
		t.Fatalf("probe url %q, want %q", got, want)
	}
	if base.String() != "https://user@backend:8443/prefix/?q=1#frag" {
		t.Fatal("New changed the target's URL")
	}
}

// With active checks off a Checker starts no goroutine, even if given a
// CheckFunc.
func TestDisableActiveStartsNothing(t *testing.T) {
	var calls atomic.Int32
	c, err := New(Settings{DisableActive: true, PassiveFailures: 1}, []Target{{Name: "a"}},
		WithCheck(func(context.Context, Target) error { calls.Add(1); return nil }), WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	c.Start(context.Background())
	defer c.Stop()
	if c.check != nil {
		t.Fatal("active check set up although disabled")
	}
	c.Record("a").ReportPassive(false, 0)
	if c.State("a") != Unhealthy {
		t.Fatal("passive checks not in force")
	}
}

func TestZeroRecord(t *testing.T) {
	var r Record
	if st := r.Status(); st.State != Healthy || r.State() != Healthy {
		t.Fatalf("zero record: %+v", st)
	}
}
