package handoff

import (
	"bytes"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// goid is the calling goroutine's id, read from its stack header.
func goid() string {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	f := strings.Fields(string(buf[:n]))
	return f[1]
}

type fn func()

func (f fn) Do() { f() }

// workersLeft reports whether any worker goroutine is still running,
// waiting up to a second for goroutines that are ending.
func workersLeft(t *testing.T) bool {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		left := bytes.Contains(buf, []byte("handoff.(*worker).loop")) || bytes.Contains(buf, []byte("handoff.(*Pool).reap"))
		if !left || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunCallsOnAWorkerAndReusesIt(t *testing.T) {
	p := New(4, time.Minute)
	defer p.Stop()
	caller := goid()
	for i := range 3 {
		var ran string
		var alive, idle int
		p.Run(fn(func() { ran = goid(); alive, idle = p.Workers() }))
		if ran == caller {
			t.Fatalf("run %d: the call ran on the caller's goroutine", i)
		}
		if alive != 1 || idle != 0 {
			t.Fatalf("run %d: during the call %d alive, %d idle; want 1, 0", i, alive, idle)
		}
		if a, id := p.Workers(); a != 1 || id != 1 {
			t.Fatalf("run %d: after the call %d alive, %d idle; want 1, 1 (one worker, reused)", i, a, id)
		}
	}
}

func TestRunBeyondMaxRunsOnTheCaller(t *testing.T) {
	p := New(2, time.Minute)
	defer p.Stop()
	release := make(chan struct{})
	started := make(chan string, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { p.Run(fn(func() { started <- goid(); <-release })) })
	}
	<-started
	<-started
	caller := goid()
	var ran string
	p.Run(fn(func() { ran = goid() }))
	if ran != caller {
		t.Errorf("with both workers busy the call ran on goroutine %s, want the caller's %s", ran, caller)
	}
	if a, _ := p.Workers(); a != 2 {
		t.Errorf("%d workers alive, want the max of 2", a)
	}
	close(release)
	wg.Wait()
}

func TestPanicIsRaisedOnTheCallerWithTheWorkersStack(t *testing.T) {
	p := New(1, time.Minute)
	defer p.Stop()
	got := func() (v any) {
		defer func() { v = recover() }()
		p.Run(fn(func() { panicDeepInTheCall() }))
		return nil
	}()
	pv, ok := got.(*Panic)
	if !ok {
		t.Fatalf("recovered %T %v, want *Panic", got, got)
	}
	if pv.Value != "boom" || !strings.Contains(string(pv.Stack), "panicDeepInTheCall") {
		t.Errorf("Panic{Value: %v}, stack without the panicking frame:\n%s", pv.Value, pv.Stack)
	}
	if !strings.Contains(pv.Error(), "boom") {
		t.Errorf("Error() = %q, want the value in it", pv.Error())
	}
	// The worker recovered: it serves the next call.
	var ran bool
	p.Run(fn(func() { ran = true }))
	if a, idle := p.Workers(); !ran || a != 1 || idle != 1 {
		t.Errorf("after a panic: ran %v, %d alive, %d idle; want the same worker back", ran, a, idle)
	}
}

func panicDeepInTheCall() { panic("boom") }

func TestPanicUnwrapsAnError(t *testing.T) {
	p := New(1, time.Minute)
	defer p.Stop()
	sentinel := errors.New("sentinel")
	got := func() (v any) {
		defer func() { v = recover() }()
		p.Run(fn(func() { panic(sentinel) }))
		return nil
	}()
	if err, ok := got.(error); !ok || !errors.Is(err, sentinel) {
		t.Errorf("recovered %v, want an error wrapping the sentinel", got)
	}
}

func TestAbortHandlerIsRaisedAsItself(t *testing.T) {
	p := New(1, time.Minute)
	defer p.Stop()
	got := func() (v any) {
		defer func() { v = recover() }()
		p.Run(fn(func() { panic(http.ErrAbortHandler) }))
		return nil
	}()
	if got != http.ErrAbortHandler {
		t.Errorf("recovered %v, want http.ErrAbortHandler itself (net/http aborts silently on it)", got)
	}
}

func TestGoexitEndsTheCaller(t *testing.T) {
	p := New(1, time.Minute)
	defer p.Stop()
	after, done := false, make(chan struct{})
	go func() {
		defer close(done)
		p.Run(fn(func() { runtime.Goexit() }))
		after = true
	}()
	<-done
	if after {
		t.Error("the caller went on after its call's Goexit")
	}
	if a, idle := p.Workers(); a != 0 || idle != 0 {
		t.Errorf("%d alive, %d idle after a Goexit, want 0, 0 (the worker ended)", a, idle)
	}
	var ran bool
	p.Run(fn(func() { ran = true }))
	if !ran {
		t.Error("the pool did not serve a call after a Goexit")
	}
}

func TestReapRetiresOnlyWorkersIdleForTheTimeout(t *testing.T) {
	p := New(4, time.Minute)
	defer p.Stop()
	t0 := time.Unix(1000, 0)
	clock := t0
	p.now = func() time.Time { return clock }
	release := make(chan struct{})
	var wg sync.WaitGroup
	started := make(chan struct{}, 2)
	for range 2 { // two workers at once
		wg.Go(func() { p.Run(fn(func() { started <- struct{}{}; <-release })) })
	}
	<-started
	<-started
	close(release)
	wg.Wait() // both idle since t0
	clock = t0.Add(30 * time.Second)
	p.Run(fn(func() {})) // the most recent one is used again at t0+30s
	if !p.Reap(t0.Add(time.Minute - time.Nanosecond)) {
		t.Fatal("Reap reported no worker left")
	}
	if a, idle := p.Workers(); a != 2 || idle != 2 {
		t.Fatalf("before the timeout: %d alive, %d idle; want 2, 2", a, idle)
	}
	p.Reap(t0.Add(time.Minute))
	if a, idle := p.Workers(); a != 1 || idle != 1 {
		t.Fatalf("a minute after t0: %d alive, %d idle; want 1, 1 (the one used at t0+30s stays)", a, idle)
	}
	if p.Reap(t0.Add(90 * time.Second)) {
		t.Error("Reap reported workers left after retiring the last")
	}
	if a, _ := p.Workers(); a != 0 {
		t.Errorf("%d alive after the last was reaped", a)
	}
}

func TestStopRetiresIdleWorkersAndDoesNotWaitForBusyOnes(t *testing.T) {
	p := New(4, time.Minute)
	release, started := make(chan struct{}), make(chan struct{})
	busyDone := make(chan struct{})
	go func() {
		defer close(busyDone)
		p.Run(fn(func() { close(started); <-release }))
	}()
	<-started
	p.Run(fn(func() {})) // a second worker, idle after this
	stopped := make(chan struct{})
	go func() { p.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop waited for a busy worker")
	}
	if a, idle := p.Workers(); a != 1 || idle != 0 {
		t.Errorf("after Stop: %d alive, %d idle; want the busy one only", a, idle)
	}
	close(release)
	<-busyDone
	if a, _ := p.Workers(); a != 0 {
		t.Errorf("%d alive after the busy call returned, want 0", a)
	}
	if workersLeft(t) {
		t.Error("a worker or reaper goroutine outlived Stop and its last call")
	}
	// After Stop calls run on the caller.
	caller := goid()
	var ran string
	p.Run(fn(func() { ran = goid() }))
	if ran != caller {
		t.Error("a call after Stop ran on a worker")
	}
	p.Stop() // twice is fine
}

func TestConcurrentRunsReapsAndStop(t *testing.T) {
	p := New(8, time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 16 {
		wg.Go(func() {
			for range 200 {
				p.Run(fn(func() { mu.Lock(); total++; mu.Unlock() }))
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			p.Reap(time.Now().Add(time.Duration(i%2) * time.Hour))
		}
	})
	wg.Wait()
	p.Stop()
	if total != 16*200 {
		t.Errorf("%d calls ran, want %d", total, 16*200)
	}
	if workersLeft(t) {
		t.Error("worker goroutines outlived Stop")
	}
}

func BenchmarkRun(b *testing.B) {
	p := New(0, 0)
	defer p.Stop()
	c := fn(func() {})
	b.ReportAllocs()
	for b.Loop() {
		p.Run(c)
	}
}
