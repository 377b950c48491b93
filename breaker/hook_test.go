package breaker

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOnStateChangeSequence(t *testing.T) {
	b, clk, rec := newTest(t, Settings{FailureThreshold: 2, SuccessThreshold: 2, HalfOpenRequests: 2})
	tripNow(t, b)                    // closed -> open
	clk.Advance(time.Second)         //
	p1, p2 := must(t, b), must(t, b) // open -> half-open
	p1.Report(false, 0)              // half-open -> open
	p2.Report(true, 0)               // stale: ignored
	clk.Advance(2 * time.Second)     //
	_ = b.State()                    // open -> half-open
	outcome(t, b, true, 0)           //
	outcome(t, b, true, 0)           // half-open -> closed
	want := []struct {
		from, to State
		reason   string
	}{
		{Closed, Open, "2 consecutive failures; open for 1s"},
		{Open, HalfOpen, "backoff elapsed"},
		{HalfOpen, Open, "probe failed; open for 2s"},
		{Open, HalfOpen, "backoff elapsed"},
		{HalfOpen, Closed, "2 consecutive probes succeeded"},
	}
	got := rec.all()
	if len(got) != len(want) {
		t.Fatalf("got %d transitions %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].from != w.from || got[i].to != w.to || got[i].reason != w.reason {
			t.Errorf("transition %d = %+v, want %+v", i, got[i], w)
		}
	}
}

// TestOnStateChangeConcurrent hammers a breaker from several goroutines
// while time moves, and checks that the hook saw one unbroken chain of
// transitions, each once and in order, that matches the breaker's own
// figures. The hook appends without a lock of its own: the race detector
// proves it is never run concurrently with itself.
func TestOnStateChangeConcurrent(t *testing.T) {
	var got []transition
	clk := newClock()
	var seq atomic.Uint64
	var inHook atomic.Bool
	b, err := New(Settings{
		FailureThreshold: 3,
		ErrorRatio:       0.3,
		MinRequests:      10,
		Window:           20 * time.Millisecond,
		BaseBackoff:      time.Millisecond,
		MaxBackoff:       8 * time.Millisecond,
		HalfOpenRequests: 2,
		SuccessThreshold: 3,
		Now:              clk.Now,
		Rand:             func() float64 { return float64(seq.Add(1)%100) / 100 },
		OnStateChange: func(from, to State, reason string) {
			if inHook.Swap(true) {
				t.Error("OnStateChange called concurrently with itself")
			}
			got = append(got, transition{from, to, reason})
			runtime.Gosched() // widen the window for an overlapping call
			inHook.Store(false)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 4, 3000
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range rounds {
				switch {
				case i%4 == 0:
					clk.Advance(100 * time.Microsecond)
				case i%7 == 0:
					_ = b.State()
				case i%11 == 0:
					_ = b.Ready(clk.Now())
					_ = b.Counts()
				}
				d, err := b.Allow()
				if err != nil {
					continue
				}
				// Failures come in phases so the breaker both trips and heals.
				// Every fourth phase of 50 rounds fails mostly.
				ok := i%13 != 0
				if (i/50)%4 == 3 {
					ok = i%5 == 0
				}
				if i%17 == 0 {
					d.Discard()
					continue
				}
				d.Report(ok, time.Duration(i%5)*time.Millisecond)
			}
		})
	}
	wg.Wait()

	// Quiesce: no goroutine is left delivering, so the chain is complete.
	c := b.Counts()
	if len(got) < 10 {
		t.Fatalf("only %d transitions: the test did not exercise the breaker", len(got))
	}
	prev := Closed
	opens := uint64(0)
	for i, tr := range got {
		if tr.from != prev || tr.from == tr.to || tr.reason == "" {
			t.Fatalf("transition %d %+v does not follow %v", i, tr, prev)
		}
		if tr.to == Open {
			opens++
		}
		prev = tr.to
	}
	if prev != c.State {
		t.Errorf("last transition ends in %v, breaker is %v", prev, c.State)
	}
	if opens != c.Trips {
		t.Errorf("hook saw %d openings, Trips() = %d", opens, c.Trips)
	}
	t.Logf("%d transitions, %d trips, %d ignored outcomes", len(got), c.Trips, c.Ignored)
}
