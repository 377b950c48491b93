// Package handoff runs calls on pooled goroutines whose stacks have
// already grown.
//
// Go's HTTP/2 server (and HTTP/3's) runs every request on a goroutine of
// its own, started for that stream with a small stack. A proxied request
// goes deep: Caddy's middleware chain, then the exchange with the backend
// and the response writer's framing. The stack grows on the way, each
// time by copying it whole (runtime.copystack), and the next stream
// starts small again. Measured on the 2-core bench machine with h2c
// clients, stack growth was 12 % of the server's CPU on proxied requests.
// Running the handler's work on a worker goroutine that has grown its
// stack once, and waiting for it, costs two goroutine hand-offs instead:
// 11-12 % less CPU per proxied request by hand, 5 % in the benchmark
// harness (BENCHMARKS.md, session 6).
//
// HTTP/1.1 needs none of this: net/http serves every request of a
// connection on the connection's goroutine, whose stack stays grown.
//
// A Pool starts no goroutine until its first Run. Workers are kept in a
// LIFO list (the most recently used is the warmest); one unused for
// IdleTimeout is retired by a reaper that runs while any worker lives.
// At most Max workers exist; a Run beyond that runs on the caller's
// goroutine. Stop retires the idle workers and waits for them; a busy
// worker ends with the call it runs, as the request's own goroutine would.
package handoff

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// Defaults of a Pool's settings.
const (
	DefaultMax         = 1024
	DefaultIdleTimeout = 10 * time.Second
)

// Call is one piece of work. A pointer to a pooled struct allocates
// nothing per Run, where a closure would.
type Call interface{ Do() }

// Pool is a set of worker goroutines. The zero value is not usable; see New.
type Pool struct {
	max         int
	idleTimeout time.Duration
	now         func() time.Time

	mu      sync.Mutex
	idle    []*worker // idle[len-1] is the most recently used
	n       int       // workers alive, idle or busy
	closed  bool
	reaping bool          // a reaper goroutine runs
	quit    chan struct{} // closed by Stop: the reaper ends
	reaper  chan struct{} // closed when the latest reaper has ended
}

type worker struct {
	in   chan Call     // closed to retire the worker
	out  chan *Panic   // nil: the call returned
	gone chan struct{} // closed when the goroutine has ended
	last time.Time     // when it last went idle
}

// New returns a pool of at most workers workers (DefaultMax if workers <=
// 0) that retires a worker idle for idleTimeout (DefaultIdleTimeout if <= 0).
func New(workers int, idleTimeout time.Duration) *Pool {
	if workers <= 0 {
		workers = DefaultMax
	}
	if idleTimeout <= 0 {
		idleTimeout = DefaultIdleTimeout
	}
	return &Pool{max: workers, idleTimeout: idleTimeout, now: time.Now, quit: make(chan struct{})}
}

// Run calls c.Do on a worker and returns when it has returned. A panic in
// c.Do is raised again on the caller's goroutine: http.ErrAbortHandler as
// itself (net/http treats it as a silent abort), any other value as a
// *Panic carrying it and the worker's stack. runtime.Goexit in c.Do ends
// the caller's goroutine too. With no worker to be had (the pool is at
// Max, or stopped) c.Do runs on the caller's goroutine.
func (p *Pool) Run(c Call) {
	w := p.get()
	if w == nil {
		c.Do()
		return
	}
	w.in <- c
	if pv := <-w.out; pv != nil {
		if pv.goexit {
			p.lost() // the worker's goroutine has ended
			runtime.Goexit()
		}
		p.put(w)
		if err, ok := pv.Value.(error); ok && err == http.ErrAbortHandler {
			panic(http.ErrAbortHandler)
		}
		panic(pv)
	}
	p.put(w)
}

// get takes the most recently used idle worker, or starts one.
func (p *Pool) get() *worker {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return w
	}
	if p.closed || p.n >= p.max {
		p.mu.Unlock()
		return nil
	}
	p.n++
	if !p.reaping {
		p.reaping = true
		p.reaper = make(chan struct{})
		go p.reap(p.reaper)
	}
	p.mu.Unlock()
	w := &worker{in: make(chan Call), out: make(chan *Panic), gone: make(chan struct{})}
	go w.loop()
	return w
}

// put returns a worker after its call, or retires it if the pool stopped.
func (p *Pool) put(w *worker) {
	p.mu.Lock()
	if p.closed {
		p.n--
		p.mu.Unlock()
		close(w.in)
		return
	}
	w.last = p.now()
	p.idle = append(p.idle, w)
	p.mu.Unlock()
}

// lost accounts for a worker whose goroutine ended in its call.
func (p *Pool) lost() {
	p.mu.Lock()
	p.n--
	p.mu.Unlock()
}

func (w *worker) loop() {
	defer close(w.gone)
	for c := range w.in {
		w.run(c)
	}
}

// run calls c.Do and reports how it ended. After a Goexit the deferred
// report is the goroutine's last act.
func (w *worker) run(c Call) {
	returned := false
	defer func() {
		if returned {
			w.out <- nil
			return
		}
		v := recover()
		if v == nil {
			w.out <- &Panic{goexit: true}
			return
		}
		w.out <- &Panic{Value: v, Stack: debug.Stack()}
	}()
	c.Do()
	returned = true
}

// reap retires, every half IdleTimeout, the workers idle for longer than
// IdleTimeout, and ends when none is left or the pool stops.
func (p *Pool) reap(done chan struct{}) {
	defer close(done)
	t := time.NewTicker(p.idleTimeout / 2)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
			if !p.Reap(p.now()) {
				return
			}
		}
	}
}

// Reap retires the workers idle since before now minus IdleTimeout and
// waits for them to end. It reports whether any worker is left; when none
// is, the reaper it was called from ends (the next new worker starts
// another). Exported for tests, which pass their own now.
func (p *Pool) Reap(now time.Time) (left bool) {
	p.mu.Lock()
	cut := 0
	for cut < len(p.idle) && now.Sub(p.idle[cut].last) >= p.idleTimeout {
		cut++
	}
	old := make([]*worker, cut)
	copy(old, p.idle[:cut])
	p.idle = append(p.idle[:0], p.idle[cut:]...)
	clear(p.idle[len(p.idle):cap(p.idle)])
	p.n -= cut
	left = p.n > 0
	if !left {
		p.reaping = false
	}
	p.mu.Unlock()
	retire(old)
	return left
}

// Stop retires the idle workers and waits for them and the reaper to end.
// Busy workers end when their call returns. Run after Stop runs calls on
// the caller's goroutine. Stop may be called more than once.
func (p *Pool) Stop() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.quit)
	old := p.idle
	p.idle = nil
	p.n -= len(old)
	reaper := p.reaper // the latest; an earlier one closed its own
	p.mu.Unlock()
	retire(old)
	if reaper != nil {
		<-reaper
	}
}

func retire(ws []*worker) {
	for _, w := range ws {
		close(w.in)
	}
	for _, w := range ws {
		<-w.gone
	}
}

// Workers reports how many workers are alive and how many of them idle.
func (p *Pool) Workers() (alive, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n, len(p.idle)
}

// Panic is what a call panicked with, raised again by Run on the caller's
// goroutine, with the stack of the worker where it happened.
type Panic struct {
	Value  any
	Stack  []byte
	goexit bool
}

func (p *Panic) Error() string {
	return fmt.Sprintf("%v [recovered on a handoff worker]\n\n%s", p.Value, p.Stack)
}

// Unwrap returns the panic's value when it is an error.
func (p *Panic) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

var _ error = (*Panic)(nil)
