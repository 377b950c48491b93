package health

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestActiveRiseFall feeds scripted check results ('P' pass, 'F' fail) to
// one Record and checks after which result each transition happened.
func TestActiveRiseFall(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		initial    State
		script     string
		want       map[int]string // result index -> transition
	}{
		{"fall=3 trips on third fail", 1, 3, Healthy, "PPFFF", map[int]string{4: "healthy>unhealthy"}},
		{"broken streak does not trip", 1, 3, Healthy, "FFPFFPFF", nil},
		{"fall=1 trips at once", 1, 1, Healthy, "PF", map[int]string{1: "healthy>unhealthy"}},
		{"more fails after trip are quiet", 2, 3, Healthy, "FFFFFF", map[int]string{2: "healthy>unhealthy"}},
		{"rise=2 needs two passes", 2, 3, Unhealthy, "PFPP", map[int]string{3: "unhealthy>healthy"}},
		{"rise=1 recovers on first pass", 1, 3, Unhealthy, "FP", map[int]string{1: "unhealthy>healthy"}},
		{"down and up", 2, 2, Healthy, "FFPPFPFF", map[int]string{1: "healthy>unhealthy", 3: "unhealthy>healthy", 7: "healthy>unhealthy"}},
		{"default thresholds 2 and 3", 0, 0, Healthy, "FFFPPP", map[int]string{2: "healthy>unhealthy", 4: "unhealthy>healthy"}},
		{"initial unhealthy stays until rise", 0, 0, Unhealthy, "P", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			s := Settings{HealthyThreshold: tc.rise, UnhealthyThreshold: tc.fall, InitialState: tc.initial}
			c, obs := startedChecker(t, s, clk, []Target{{Name: "a"}})
			r := c.Record("a")
			if got := r.State(); got != tc.initial {
				t.Fatalf("initial state %v, want %v", got, tc.initial)
			}
			got := map[int]string{}
			for i, ch := range tc.script {
				var err error
				if ch == 'F' {
					err = errProbe
				}
				before := len(obs.transitions())
				r.observeActive(c.pol, err, clk.Now(), time.Millisecond)
				if ts := obs.transitions(); len(ts) > before {
					if len(ts) != before+1 {
						t.Fatalf("result %d caused %d transitions", i, len(ts)-before)
					}
					got[i] = ts[before].From.String() + ">" + ts[before].To.String()
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("transitions %v, want %v", got, tc.want)
			}
			for i, w := range tc.want {
				if got[i] != w {
					t.Fatalf("transitions %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestStatusSnapshot(t *testing.T) {
	clk := newFakeClock()
	c, _ := startedChecker(t, Settings{UnhealthyThreshold: 2}, clk, []Target{{Name: "a"}})
	r := c.Record("a")
	if st := r.Status(); !st.Since.IsZero() || st.Reason != "" || !st.LastCheck.IsZero() {
		t.Fatalf("fresh status %+v, want zero times and no reason", st)
	}
	t0 := clk.Now()
	r.observeActive(c.pol, nil, t0, 3*time.Millisecond)
	st := r.Status()
	if st.Passes != 1 || st.Failures != 0 || st.LastError != nil || !st.LastCheck.Equal(t0) || st.LastLatency != 3*time.Millisecond {
		t.Fatalf("after a pass: %+v", st)
	}
	clk.Advance(time.Second)
	r.observeActive(c.pol, errProbe, clk.Now(), time.Millisecond)
	clk.Advance(time.Second)
	t2 := clk.Now()
	r.observeActive(c.pol, errProbe, t2, time.Millisecond)
	st = r.Status()
	if st.State != Unhealthy || st.Failures != 2 || st.Passes != 0 || st.LastError != errProbe || !st.Since.Equal(t2) {
		t.Fatalf("after two fails: %+v", st)
	}
	if !strings.Contains(st.Reason, "2 consecutive failed checks") || !strings.Contains(st.Reason, errProbe.Error()) {
		t.Fatalf("reason %q does not say why", st.Reason)
	}
	if s2, ok := c.Status("a"); !ok || s2.State != Unhealthy {
		t.Fatalf("Checker.Status = %+v, %v", s2, ok)
	}
}

func TestPassiveTrips(t *testing.T) {
	tests := []struct {
		name      string
		failures  int
		statuses  []int
		reports   []int // status; -1 = no response
		tripAfter int   // index of the report that trips; -1 = never
	}{
		{"three without response", 3, nil, []int{-1, -1, -1}, 2},
		{"streak broken by success", 3, nil, []int{-1, -1, 200, -1, -1, -1}, 5},
		{"bad statuses count", 2, []int{502, 503}, []int{200, 502, 503}, 2},
		{"other statuses do not", 2, []int{502}, []int{500, 404, 500, 200}, -1},
		{"off when zero", 0, []int{502}, []int{-1, -1, -1, -1, 502}, -1},
		{"one is enough", 1, nil, []int{200, -1}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			s := Settings{PassiveFailures: tc.failures, PassiveUnhealthyStatuses: tc.statuses}
			c, obs := startedChecker(t, s, clk, []Target{{Name: "b"}})
			r := c.Record("b")
			trip := -1
			for i, st := range tc.reports {
				r.ReportPassive(st >= 0, max(st, 0))
				if trip < 0 && r.State() == Unhealthy {
					trip = i
				}
			}
			if trip != tc.tripAfter {
				t.Fatalf("tripped after report %d, want %d", trip, tc.tripAfter)
			}
			ts := obs.transitions()
			if want := map[bool]int{true: 0, false: 1}[trip < 0]; len(ts) != want {
				t.Fatalf("observer saw %v, want %d transitions", arrows(ts), want)
			}
			if trip >= 0 && (ts[0].Target != "b" || ts[0].From != Healthy || ts[0].To != Unhealthy || !strings.Contains(ts[0].Reason, "failed requests")) {
				t.Fatalf("transition %+v", ts[0])
			}
		})
	}
}

// A passively tripped backend needs a full rise of fresh passing checks,
// however long its pass streak was before.
func TestPassiveRecoversThroughActive(t *testing.T) {
	clk := newFakeClock()
	c, obs := startedChecker(t, Settings{PassiveFailures: 1, HealthyThreshold: 3}, clk, []Target{{Name: "a"}})
	r := c.Record("a")
	for range 10 {
		r.observeActive(c.pol, nil, clk.Now(), 0)
	}
	r.ReportPassive(false, 0)
	if r.State() != Unhealthy {
		t.Fatal("passive failure did not trip")
	}
	r.observeActive(c.pol, nil, clk.Now(), 0)
	r.observeActive(c.pol, nil, clk.Now(), 0)
	if r.State() != Unhealthy {
		t.Fatal("recovered before 3 fresh passes")
	}
	clk.Advance(time.Hour) // no cooldown while active checks are on
	if r.State() != Unhealthy {
		t.Fatal("recovered by a cooldown although active checks are on")
	}
	r.observeActive(c.pol, nil, clk.Now(), 0)
	if r.State() != Healthy || r.Status().PassiveFailures != 0 {
		t.Fatalf("after 3 passes: %+v", r.Status())
	}
	if got := arrows(obs.transitions()); !slices.Equal(got, []string{"a:healthy>unhealthy", "a:unhealthy>healthy"}) {
		t.Fatalf("observer saw %v", got)
	}
}

func TestPassiveCooldownWithoutActive(t *testing.T) {
	clk := newFakeClock()
	s := Settings{DisableActive: true, PassiveFailures: 2, PassiveCooldown: 5 * time.Second}
	c, obs := startedChecker(t, s, clk, []Target{{Name: "a"}})
	r := c.Record("a")
	r.ReportPassive(false, 0)
	r.ReportPassive(false, 0)
	clk.Advance(4 * time.Second)
	if r.State() != Unhealthy {
		t.Fatal("back before the cooldown ended")
	}
	clk.Advance(time.Second)
	if r.State() != Healthy {
		t.Fatal("not back after the cooldown")
	}
	// A second trip gets a cooldown of its own, not the remains of the first.
	r.ReportPassive(false, 0)
	r.ReportPassive(false, 0)
	clk.Advance(4 * time.Second)
	if r.State() != Unhealthy {
		t.Fatal("second trip ended early")
	}
	clk.Advance(time.Second)
	want := []string{"a:healthy>unhealthy", "a:unhealthy>healthy", "a:healthy>unhealthy", "a:unhealthy>healthy"}
	if got := arrows(obs.transitions()); !slices.Equal(got, want) {
		t.Fatalf("observer saw %v, want %v", got, want)
	}
	if got := obs.transitions()[1].Reason; got != "passive cooldown of 5s elapsed" {
		t.Fatalf("reason %q", got)
	}
}

// Observers run concurrently with reports from many goroutines: each must
// see every transition once, in order, never two at a time.
func TestObserversOrderedUnderConcurrency(t *testing.T) {
	clk := newFakeClock()
	c, obs := startedChecker(t, Settings{PassiveFailures: 2, HealthyThreshold: 1, UnhealthyThreshold: 1}, clk, []Target{{Name: "a"}})
	second := &recorder{}
	c.Subscribe(second)
	r := c.Record("a")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				r.ReportPassive(i%3 != 0 || g == 0, 200)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 2000 {
			var err error
			if i%4 == 0 {
				err = errProbe
			}
			r.observeActive(c.pol, err, clk.Now(), 0)
		}
	}()
	wg.Wait()
	for _, o := range []*recorder{obs, second} {
		ts := o.transitions()
		if o.overlap.Load() {
			t.Fatal("observer called concurrently")
		}
		if len(ts) < 2 {
			t.Fatalf("only %d transitions: the test did not exercise anything", len(ts))
		}
		prev := Healthy
		for i, tr := range ts {
			if tr.From != prev || tr.To == tr.From {
				t.Fatalf("transition %d is %v>%v after %v: out of order or repeated", i, tr.From, tr.To, prev)
			}
			prev = tr.To
		}
		if prev != r.State() {
			t.Fatalf("last transition says %v, state is %v", prev, r.State())
		}
	}
	if a, b := len(obs.transitions()), len(second.transitions()); a != b {
		t.Fatalf("observers saw %d and %d transitions", a, b)
	}
}

// An Observer may call back into the Record; what it causes is delivered
// after it returns, not inside it and not lost.
func TestObserverReentry(t *testing.T) {
	clk := newFakeClock()
	c, obs := startedChecker(t, Settings{PassiveFailures: 1, UnhealthyThreshold: 1, HealthyThreshold: 1}, clk, []Target{{Name: "a"}})
	r := c.Record("a")
	depth := 0
	c.Subscribe(ObserverFunc(func(tr Transition) {
		depth++
		defer func() { depth-- }()
		if depth > 1 {
			t.Error("observer re-entered")
		}
		if tr.To == Unhealthy && r.State() == Unhealthy {
			r.observeActive(c.pol, nil, clk.Now(), 0) // brings it back
		}
	}))
	r.ReportPassive(false, 0)
	if got := arrows(obs.transitions()); !slices.Equal(got, []string{"a:healthy>unhealthy", "a:unhealthy>healthy"}) {
		t.Fatalf("observer saw %v", got)
	}
}

func TestObserverPanicIsContained(t *testing.T) {
	clk := newFakeClock()
	var logged []string
	logger := WithLogger(func(msg string, fields ...any) { logged = append(logged, fmt.Sprint(msg, fields)) })
	c, _ := startedChecker(t, Settings{UnhealthyThreshold: 1, HealthyThreshold: 1}, clk, []Target{{Name: "a"}}, logger)
	c.Subscribe(ObserverFunc(func(Transition) { panic("boom") }))
	after := &recorder{}
	c.Subscribe(after)
	r := c.Record("a")
	r.observeActive(c.pol, errProbe, clk.Now(), 0)
	r.observeActive(c.pol, nil, clk.Now(), 0)
	if got := len(after.transitions()); got != 2 {
		t.Fatalf("observer after the panicking one saw %d transitions, want 2", got)
	}
	if len(logged) != 2 || !strings.Contains(logged[0], "boom") {
		t.Fatalf("logged %q", logged)
	}
}

func TestUnsubscribe(t *testing.T) {
	clk := newFakeClock()
	c, obs := startedChecker(t, Settings{UnhealthyThreshold: 1, HealthyThreshold: 1}, clk, []Target{{Name: "a"}})
	gone := &recorder{}
	unsub := c.Subscribe(gone)
	r := c.Record("a")
	r.observeActive(c.pol, errProbe, clk.Now(), 0)
	unsub()
	unsub() // twice is harmless
	r.observeActive(c.pol, nil, clk.Now(), 0)
	if len(gone.transitions()) != 1 || len(obs.transitions()) != 2 {
		t.Fatalf("unsubscribed saw %d (want 1), subscribed saw %d (want 2)", len(gone.transitions()), len(obs.transitions()))
	}
}

func TestNewRecordNormalisesState(t *testing.T) {
	if NewRecord(State(7)).State() != Unhealthy {
		t.Fatal("unknown initial state not taken as Unhealthy")
	}
	r := NewRecord(Healthy)
	r.ReportPassive(false, 0) // run by no Checker: ignored
	if r.State() != Healthy || r.Status().PassiveFailures != 0 {
		t.Fatalf("unattached record changed: %+v", r.Status())
	}
}

func TestRecordCountsChecks(t *testing.T) {
	r := NewRecord(Healthy)
	p := &policy{rise: 1, fall: 2}
	now := time.Unix(0, 0)
	r.observeActive(p, nil, now, time.Millisecond)
	r.observeActive(p, errors.New("down"), now, time.Millisecond)
	r.observeActive(p, errors.New("down"), now, time.Millisecond)
	if ok, bad := r.Checks(); ok != 1 || bad != 2 {
		t.Fatalf("Checks() = %d, %d; want 1, 2", ok, bad)
	}
	if r.State() != Unhealthy {
		t.Fatalf("two failures with fall 2 left the record %v", r.State())
	}
}
