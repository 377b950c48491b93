package health

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when a test calls Advance. Channel
// timers fire by a non-blocking send; AfterFunc callbacks run synchronously
// inside Advance, so a test sees their effect as soon as Advance returns.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	armed  chan struct{} // signalled whenever a channel timer is armed
}

type fakeTimer struct {
	clk   *fakeClock
	when  time.Time
	armed bool
	c     chan time.Time
	f     func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), armed: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) timer {
	t := &fakeTimer{clk: c, c: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) timer {
	t := &fakeTimer{clk: c, f: f}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.clk.mu.Lock()
	was := t.armed
	t.when, t.armed = t.clk.now.Add(d), true
	t.clk.mu.Unlock()
	if t.f == nil {
		select {
		case t.clk.armed <- struct{}{}:
		default:
		}
	}
	return was
}

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := t.armed
	t.armed = false
	return was
}

// Advance moves time on by d, firing every timer that falls due, earliest
// first.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		var next *fakeTimer
		for _, t := range c.timers {
			if t.armed && !t.when.After(end) && (next == nil || t.when.Before(next.when)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		next.armed = false
		if next.when.After(c.now) {
			c.now = next.when
		}
		if next.f != nil {
			c.mu.Unlock()
			next.f()
			c.mu.Lock()
			continue
		}
		select {
		case next.c <- c.now:
		default:
		}
	}
	c.now = end
	c.mu.Unlock()
}

// armedChannelTimers counts the armed channel timers (the check loops).
func (c *fakeClock) armedChannelTimers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.armed && t.f == nil {
			n++
		}
	}
	return n
}

// waitArmed blocks until n check loops are waiting on their timers, i.e.
// every loop has finished its last check. The deadline only guards against
// a hung test; nothing is asserted about how long it took.
func (c *fakeClock) waitArmed(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for c.armedChannelTimers() != n {
		select {
		case <-c.armed:
		case <-deadline.C:
			tb.Fatalf("waited in vain for %d armed timers (have %d)", n, c.armedChannelTimers())
		}
	}
}

func TestFakeClockFiresInOrder(t *testing.T) {
	c := newFakeClock()
	var got []int
	c.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	c.AfterFunc(time.Second, func() { got = append(got, 1) })
	tm := c.NewTimer(3 * time.Second)
	c.Advance(1500 * time.Millisecond)
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("after 1.5s fired %v, want [1]", got)
	}
	select {
	case <-tm.C():
		t.Fatal("3s timer fired at 1.5s")
	default:
	}
	c.Advance(2 * time.Second)
	if len(got) != 2 || got[1] != 2 {
		t.Fatalf("after 3.5s fired %v, want [1 2]", got)
	}
	select {
	case <-tm.C():
	default:
		t.Fatal("3s timer did not fire at 3.5s")
	}
}
