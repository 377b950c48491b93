package health

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestAddAndRemoveTargets: a target added to a running Checker starts in
// the initial state and is checked on the clock like the others; a removed
// one is checked no more, its transitions reach no Observer, and its
// Record keeps its state.
func TestAddAndRemoveTargets(t *testing.T) {
	clk := newFakeClock()
	sc := &scripted{script: map[string]string{"new": "PP"}, calls: map[string]int{}}
	s := Settings{Interval: 10 * time.Second, InitialState: Unhealthy, HealthyThreshold: 2}
	c, obs := startedChecker(t, s, clk, []Target{{Name: "a"}}, WithCheck(sc.check))
	clk.waitArmed(t, 1)
	rec := NewRecord(Unhealthy)
	if err := c.Add(Target{Name: "new", Record: rec}); err != nil {
		t.Fatal(err)
	}
	clk.waitArmed(t, 2)
	if c.State("new") != Unhealthy {
		t.Fatalf("a target added unhealthy is %v before any check", c.State("new"))
	}
	clk.Advance(500 * time.Millisecond) // first delay
	clk.waitArmed(t, 2)
	clk.Advance(10 * time.Second)
	clk.waitArmed(t, 2)
	if n := sc.count("new"); n != 2 || c.State("new") != Healthy {
		t.Fatalf("after two passing checks: %d checks, state %v", n, c.State("new"))
	}
	got := arrows(obs.transitions())
	slices.Sort(got)
	if !slices.Equal(got, []string{"a:unhealthy>healthy", "new:unhealthy>healthy"}) {
		t.Fatalf("observer saw %v", got)
	}
	if !c.Remove("new") || c.Remove("new") {
		t.Fatal("Remove reports the target once, and no more")
	}
	if !slices.Equal(c.Names(), []string{"a"}) {
		t.Fatalf("targets %v after removing new", c.Names())
	}
	clk.waitArmed(t, 1)
	clk.Advance(time.Minute)
	clk.waitArmed(t, 1)
	if n := sc.count("new"); n != 2 {
		t.Fatalf("a removed target was checked again: %d checks", n)
	}
	rec.ReportPassive(false, 0) // run by no Checker: ignored
	if rec.State() != Healthy {
		t.Fatalf("the removed target's Record lost its state: %v", rec.State())
	}
	if c.State("new") != Unhealthy {
		t.Fatal("a removed target still has a state")
	}
	// The same Record may join again, and carries on from its state.
	if err := c.Add(Target{Name: "new", Record: rec}); err != nil || c.State("new") != Healthy {
		t.Fatalf("re-added: %v, state %v", err, c.State("new"))
	}
}

func TestAddRefusesBadTargets(t *testing.T) {
	clk := newFakeClock()
	rec := NewRecord(Healthy)
	c, _ := startedChecker(t, Settings{}, clk, []Target{{Name: "a", Record: rec}})
	cases := []struct {
		name string
		t    Target
	}{
		{"no name", Target{}},
		{"name taken", Target{Name: "a"}},
		{"record taken", Target{Name: "b", Record: rec}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Add(tc.t); !errors.Is(err, ErrInvalidTarget) {
				t.Fatalf("got %v, want ErrInvalidTarget", err)
			}
		})
	}
	c.Stop()
	if err := c.Add(Target{Name: "late"}); !errors.Is(err, ErrStopped) {
		t.Fatalf("Add after Stop: %v, want ErrStopped", err)
	}
}

// TestAddBeforeStart: a target added before Start runs with the others.
func TestAddBeforeStart(t *testing.T) {
	c, err := New(Settings{DisableActive: true, PassiveFailures: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(Target{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	c.Start(t.Context())
	defer c.Stop()
	r := c.Record("x")
	r.ReportPassive(false, 0)
	if st := r.Status(); st.PassiveFailures != 1 {
		t.Fatalf("the Record of a target added before Start is not attached: %+v", st)
	}
}
