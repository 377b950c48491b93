package breaker

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// step advances the clock, then reports fast successes, slow successes and
// failures, in that order, and checks the state.
type step struct {
	advance      time.Duration
	ok, slow, ko int
	want         State
}

func runSteps(t *testing.T, b *Breaker, clk *fakeClock, steps []step) {
	t.Helper()
	for i, st := range steps {
		clk.Advance(st.advance)
		for range st.ok {
			outcome(t, b, true, time.Millisecond)
		}
		for range st.slow {
			outcome(t, b, true, time.Second)
		}
		for range st.ko {
			if b.Counts().State != Closed {
				break
			}
			outcome(t, b, false, time.Millisecond)
		}
		if got := b.Counts().State; got != st.want {
			t.Fatalf("step %d %+v: state %v, want %v (counts %+v)", i, st, got, st.want, b.Counts())
		}
	}
}

func TestErrorRatioTrip(t *testing.T) {
	base := Settings{FailureThreshold: 1000, ErrorRatio: 0.5, MinRequests: 10, Window: 10 * time.Second}
	tests := []struct {
		name  string
		steps []step
	}{
		{"below min requests even at ratio 1", []step{
			{ko: 9, want: Closed},
			{ko: 1, want: Open},
		}},
		{"ratio equal to the limit does not trip", []step{
			{ok: 5, ko: 5, want: Closed},
			{ko: 1, want: Open},
		}},
		{"failures trickling in among successes", []step{
			{ok: 30, want: Closed},
			{ok: 2, ko: 2, want: Closed},
			{ok: 1, ko: 31, want: Closed}, // 33/66
			{ko: 1, want: Open},
		}},
		{"expired buckets no longer count", []step{
			{ko: 6, want: Closed},
			{advance: 10 * time.Second, ko: 4, want: Closed}, // 10 failures, but 6 are out of the window
			{ko: 5, want: Closed},                            // 9 in the window
			{ko: 1, want: Open},
		}},
		{"partly expired window", []step{
			{ok: 8, want: Closed},
			{advance: 5 * time.Second, ok: 2, ko: 5, want: Closed}, // 5/15
			{advance: 4 * time.Second, ko: 1, want: Closed},        // 6/16: t0 bucket still in
			{advance: time.Second, ko: 2, want: Open},              // 8/10 once t0 has gone
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, clk, rec := newTest(t, base)
			runSteps(t, b, clk, tc.steps)
			if got := rec.all(); !strings.Contains(got[0].reason, "error ratio") {
				t.Errorf("reason %q does not name the error ratio", got[0].reason)
			}
		})
	}
}

func TestLatencyQuantileTrip(t *testing.T) {
	tests := []struct {
		name  string
		q     float64
		steps []step
	}{
		{"p90 holds with 10% slow", 0.9, []step{
			{ok: 18, slow: 2, want: Closed},
			{slow: 1, want: Open}, // 3 of 21 slow: rank 19 is slow
		}},
		{"p90 needs min requests", 0.9, []step{
			{slow: 19, want: Closed},
			{slow: 1, want: Open},
		}},
		{"default quantile is p90", 0, []step{
			{ok: 36, slow: 4, want: Closed},
			{slow: 1, want: Open},
		}},
		{"p50", 0.5, []step{
			{ok: 10, slow: 10, want: Closed},
			{slow: 1, want: Open},
		}},
		{"p100 trips on the slowest", 1, []step{
			{ok: 19, slow: 1, want: Open},
		}},
		{"slow requests expire", 0.9, []step{
			{ok: 18, slow: 2, want: Closed},
			{advance: 10 * time.Second, ok: 18, slow: 2, want: Closed},
			{advance: 10 * time.Second, ok: 18, slow: 2, want: Closed},
		}},
		{"fast failures are not slow", 0.9, []step{
			{ok: 20, want: Closed},
			{ko: 10, want: Closed},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, clk, rec := newTest(t, Settings{
				FailureThreshold: 1000,
				LatencyThreshold: 100 * time.Millisecond,
				LatencyQuantile:  tc.q,
			})
			runSteps(t, b, clk, tc.steps)
			if tr := rec.all(); len(tr) > 0 && !strings.Contains(tr[0].reason, "latency") {
				t.Errorf("reason %q does not name the latency", tr[0].reason)
			}
		})
	}
}

func TestSlowFailuresAndSlowProbes(t *testing.T) {
	b, clk, rec := newTest(t, Settings{FailureThreshold: 1000, LatencyThreshold: 100 * time.Millisecond, MinRequests: 10})
	for range 8 {
		outcome(t, b, true, time.Millisecond)
	}
	outcome(t, b, false, time.Second)
	wantState(t, b, Closed)
	outcome(t, b, false, time.Second) // 2 of 10 slow, both failed: p90 is slow
	wantState(t, b, Open)
	if c := b.Counts(); c.WindowRequests != 10 || c.WindowFailures != 2 || c.WindowSlow != 2 {
		t.Fatalf("window counts %+v", c)
	}
	clk.Advance(time.Second)
	outcome(t, b, true, 150*time.Millisecond) // a slow probe is a failed probe
	wantState(t, b, Open)
	if tr := rec.all(); !strings.Contains(tr[len(tr)-1].reason, "latency threshold") {
		t.Errorf("reason %q", tr[len(tr)-1].reason)
	}
	clk.Advance(2 * time.Second)
	outcome(t, b, true, 100*time.Millisecond) // at the threshold is not over it
	wantState(t, b, Closed)
	if c := b.Counts(); c.WindowRequests != 0 {
		t.Fatalf("window not reset on close: %+v", c)
	}
}

func TestReportAtUsesGivenTime(t *testing.T) {
	b, clk, _ := newTest(t, Settings{FailureThreshold: 1000, ErrorRatio: 0.5, MinRequests: 10})
	t0 := clk.Now() // the breaker's clock never moves in this test
	for range 6 {
		must(t, b).ReportAt(t0, false, 0)
	}
	later := t0.Add(10 * time.Second)
	for range 4 {
		must(t, b).ReportAt(later, false, 0)
	}
	wantState(t, b, Closed) // 10 failures, but the first 6 are out of the window
	must(t, b).ReportAt(t0.Add(5*time.Second), false, 0)
	wantState(t, b, Closed) // an earlier reading lands in its own slot: 7 in its window
	for range 4 {
		must(t, b).ReportAt(later, false, 0)
	}
	wantState(t, b, Closed) // 9: 1 at 5s and 8 at 10s
	must(t, b).ReportAt(later, false, 0)
	wantState(t, b, Open)
}

func TestWindowOffCostsNothing(t *testing.T) {
	b, _, _ := newTest(t, Settings{})
	if b.win != nil {
		t.Fatal("window allocated with ErrorRatio and LatencyThreshold off")
	}
	outcome(t, b, false, time.Hour)
	if c := b.Counts(); c.WindowRequests != 0 || c.ConsecutiveFailures != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func TestWindowRing(t *testing.T) {
	const sec = int64(time.Second)
	w := newWindow(10 * sec)
	type rec struct {
		at           int64
		failed, slow bool
	}
	tests := []struct {
		name               string
		records            []rec
		at                 int64
		req, failed, slowN uint64
	}{
		{"empty", nil, 0, 0, 0, 0},
		{"one bucket", []rec{{0, true, false}, {sec / 2, false, true}}, sec, 2, 1, 1},
		{"last bucket still in", []rec{{0, true, true}, {9 * sec, false, false}}, 9*sec + sec/2, 2, 1, 1},
		{"first bucket out", []rec{{0, true, true}, {9 * sec, false, false}}, 10 * sec, 1, 0, 0},
		{"slot reused", []rec{{sec, true, false}, {11 * sec, false, false}}, 11 * sec, 1, 0, 0},
		{"late sample to a recycled slot is dropped", []rec{{11 * sec, false, false}, {sec, true, true}}, 11 * sec, 1, 0, 0},
		{"future buckets ignored", []rec{{5 * sec, true, true}}, 4 * sec, 0, 0, 0},
		{"before start counts as start", []rec{{-sec, true, false}}, 0, 1, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.reset()
			for _, r := range tc.records {
				w.record(r.at, r.failed, r.slow)
			}
			req, failed, slow := w.sum(tc.at)
			if req != tc.req || failed != tc.failed || slow != tc.slowN {
				t.Errorf("sum(%v) = %d/%d/%d, want %d/%d/%d", time.Duration(tc.at), req, failed, slow, tc.req, tc.failed, tc.slowN)
			}
		})
	}
}

func TestWindowConcurrentRecord(t *testing.T) {
	const sec = int64(time.Second)
	w := newWindow(10 * sec)
	const workers, each = 4, 2000
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				w.record(int64(g)*sec, i%2 == 0, i%4 == 0)
			}
		})
	}
	wg.Wait()
	req, failed, slow := w.sum(3 * sec)
	if req != workers*each || failed != workers*each/2 || slow != workers*each/4 {
		t.Fatalf("sum = %d/%d/%d, want %d/%d/%d", req, failed, slow, workers*each, workers*each/2, workers*each/4)
	}
}
