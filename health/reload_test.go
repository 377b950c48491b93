package health

import (
	"slices"
	"testing"
	"time"
)

// A Record carried to a new Checker keeps its state, and the new Checker's
// Observers, not the stopped one's, hear of what happens next.
func TestRecordCarriedOverKeepsState(t *testing.T) {
	clk := newFakeClock()
	old, oldObs := startedChecker(t, Settings{UnhealthyThreshold: 1}, clk, []Target{{Name: "a"}, {Name: "b"}})
	old.Record("a").observeActive(old.pol, errProbe, clk.Now(), 0)
	if old.State("a") != Unhealthy {
		t.Fatal("setup: a did not go down")
	}

	// The reload: the new config keeps the records, the old one is stopped.
	next, nextObs := startedChecker(t, Settings{HealthyThreshold: 1}, clk, []Target{
		{Name: "a", Record: old.Record("a")},
		{Name: "b", Record: old.Record("b")},
		{Name: "c"},
	})
	old.Stop()
	if next.State("a") != Unhealthy || next.State("b") != Healthy || next.State("c") != Healthy {
		t.Fatalf("after reload a=%v b=%v c=%v, want unhealthy healthy healthy", next.State("a"), next.State("b"), next.State("c"))
	}
	if st, _ := next.Status("a"); st.Failures != 1 || st.LastError != errProbe {
		t.Fatalf("carried status lost its history: %+v", st)
	}
	next.Record("a").observeActive(next.pol, nil, clk.Now(), 0)
	if got := arrows(nextObs.transitions()); !slices.Equal(got, []string{"a:unhealthy>healthy"}) {
		t.Fatalf("new observers saw %v", got)
	}
	if got := len(oldObs.transitions()); got != 1 {
		t.Fatalf("stopped checker's observer saw %d transitions, want only the 1 from before", got)
	}
}

// While two Checkers overlap both hear of transitions; when the newer one
// is stopped (a failed reload) the older one's policy is back in force.
func TestFailedReloadRestoresOldPolicy(t *testing.T) {
	clk := newFakeClock()
	old, oldObs := startedChecker(t, Settings{PassiveFailures: 3}, clk, []Target{{Name: "a"}})
	r := old.Record("a")
	next, nextObs := startedChecker(t, Settings{PassiveFailures: 1, HealthyThreshold: 1}, clk, []Target{{Name: "a2", Record: r}})

	r.ReportPassive(false, 0) // new policy: one failure trips
	if r.State() != Unhealthy {
		t.Fatal("newest checker's passive policy not in force")
	}
	if len(oldObs.transitions()) != 1 || len(nextObs.transitions()) != 1 {
		t.Fatalf("overlapping observers saw %v and %v", arrows(oldObs.transitions()), arrows(nextObs.transitions()))
	}
	if nextObs.transitions()[0].Target != "a2" || oldObs.transitions()[0].Target != "a" {
		t.Fatal("each checker should name the record by its own target name")
	}

	next.Stop()
	r.observeActive(old.pol, nil, clk.Now(), 0)
	r.observeActive(old.pol, nil, clk.Now(), 0)
	if r.State() != Healthy {
		t.Fatal("setup: did not recover")
	}
	r.ReportPassive(false, 0)
	r.ReportPassive(false, 0)
	if r.State() != Healthy {
		t.Fatal("stopped checker's passive policy still in force")
	}
	r.ReportPassive(false, 0)
	if r.State() != Unhealthy {
		t.Fatal("old checker's passive policy not back in force")
	}
	if got := len(nextObs.transitions()); got != 1 {
		t.Fatalf("stopped checker's observer saw %d transitions, want 1", got)
	}
}

// A Record that comes unhealthy to a Checker without active checks gets a
// cooldown, or nothing would ever bring it back.
func TestUnhealthyRecordToPassiveOnlyChecker(t *testing.T) {
	clk := newFakeClock()
	r := NewRecord(Unhealthy)
	c, obs := startedChecker(t, Settings{DisableActive: true, PassiveFailures: 1, PassiveCooldown: 10 * time.Second}, clk, []Target{{Name: "a", Record: r}})
	clk.Advance(9 * time.Second)
	if c.State("a") != Unhealthy {
		t.Fatal("back before the cooldown")
	}
	clk.Advance(time.Second)
	if got := arrows(obs.transitions()); !slices.Equal(got, []string{"a:unhealthy>healthy"}) {
		t.Fatalf("observer saw %v", got)
	}
}

// A cooldown left over from a passive-only config must not end a later
// trip, which under the new config only active checks may end.
func TestStaleCooldownIsVoid(t *testing.T) {
	clk := newFakeClock()
	old, _ := startedChecker(t, Settings{DisableActive: true, PassiveFailures: 1, PassiveCooldown: 5 * time.Second}, clk, []Target{{Name: "a"}})
	r := old.Record("a")
	r.ReportPassive(false, 0) // cooldown due at +5s
	next, obs := startedChecker(t, Settings{PassiveFailures: 1, HealthyThreshold: 1}, clk, []Target{{Name: "a", Record: r}})
	old.Stop()
	clk.Advance(time.Second)
	r.observeActive(next.pol, nil, clk.Now(), 0) // back through an active pass
	r.ReportPassive(false, 0)                    // and out again
	clk.Advance(10 * time.Second)
	if r.State() != Unhealthy {
		t.Fatal("the first trip's cooldown ended the second trip")
	}
	if got := arrows(obs.transitions()); !slices.Equal(got, []string{"a:unhealthy>healthy", "a:healthy>unhealthy"}) {
		t.Fatalf("observer saw %v", got)
	}
}
