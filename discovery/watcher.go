package discovery

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Option changes how New builds a Watcher.
type Option func(*Watcher)

// OnChange sets the observer told of every new backend set: after the
// first successful lookup, and then whenever a lookup gives a set that
// differs (in URL, host, weight or priority). f is called from the
// Watcher's goroutine (or from Refresh), never twice at once, and owns the
// slice it gets.
func OnChange(f func([]Backend)) Option { return func(w *Watcher) { w.onChange = f } }

// OnError sets the function told of every failed lookup, for logs and
// metrics; the set stays as it was. Called like OnChange's function.
func OnError(f func(error)) Option { return func(w *Watcher) { w.onError = f } }

// Watcher keeps the backend set of one Config up to date. Make one with
// New, then Start it; Stop it when its config is retired.
type Watcher struct {
	cfg      Config // compiled
	res      *Resolver
	onChange func([]Backend)
	onError  func(error)
	after    func(time.Duration) (<-chan time.Time, func() bool)
	now      func() time.Time

	lookupMu sync.Mutex // serialises lookups and callbacks

	mu     sync.Mutex // guards the fields below
	st     Status
	looked bool          // a lookup has completed
	wait   time.Duration // from the last lookup to the next

	lifeMu   sync.Mutex
	started  bool
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

// Status is a snapshot of a Watcher, for the status API.
type Status struct {
	Name string // as configured, fully qualified
	Type string
	// Backends is the current (last good) set.
	Backends []Backend
	// Lookups and Failures count every lookup made and those that failed.
	Lookups, Failures uint64
	// ConsecutiveFailures counts the failed lookups since the last good one.
	ConsecutiveFailures int
	// LastLookup is when the last lookup ended; LastSuccess when the last
	// good one did. Zero before the first.
	LastLookup, LastSuccess time.Time
	// LastError is the last failure's message; empty after a good lookup.
	LastError string
	// NextLookup is when the next lookup is due (zero before the first).
	NextLookup time.Time
}

// New checks cfg and returns a Watcher that has not looked anything up
// yet. Errors wrap ErrInvalidConfig.
func New(cfg Config, opts ...Option) (*Watcher, error) {
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	w := &Watcher{
		cfg:      c,
		res:      NewResolver(c.Resolvers, c.Timeout),
		onChange: func([]Backend) {},
		onError:  func(error) {},
		after:    realAfter,
		now:      time.Now,
		done:     make(chan struct{}),
	}
	w.st.Name, w.st.Type = c.Name, c.Type
	for _, o := range opts {
		o(w)
	}
	return w, nil
}

func realAfter(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Config returns the Watcher's config with every default applied.
func (w *Watcher) Config() Config { c := w.cfg; c.Resolvers = slices.Clone(c.Resolvers); return c }

// Backends returns the current (last good) set; nil before the first good
// lookup.
func (w *Watcher) Backends() []Backend {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.st.Backends)
}

// Status returns a snapshot of the Watcher's state.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.st
	s.Backends = slices.Clone(s.Backends)
	return s
}

// Refresh looks the name up now and applies the result as a scheduled
// lookup would: a new set goes to OnChange, a failure to OnError (and is
// returned). Use it before Start to have backends before serving; the
// Watcher then waits the usual time before its next lookup. A lookup cut
// short by ctx is dropped and changes nothing.
func (w *Watcher) Refresh(ctx context.Context) error {
	w.lookupMu.Lock()
	defer w.lookupMu.Unlock()
	set, ttl, err := lookup(ctx, w.res, w.cfg)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	now := w.now()
	w.mu.Lock()
	w.looked = true
	w.wait = nextWait(w.cfg.Refresh, ttl, err != nil)
	w.st.Lookups++
	w.st.LastLookup = now
	w.st.NextLookup = now.Add(w.wait)
	changed := false
	if err != nil {
		w.st.Failures++
		w.st.ConsecutiveFailures++
		w.st.LastError = err.Error()
	} else {
		w.st.ConsecutiveFailures = 0
		w.st.LastError = ""
		w.st.LastSuccess = now
		if w.st.Backends == nil || !slices.Equal(w.st.Backends, set) {
			w.st.Backends = set
			changed = true
		}
	}
	w.mu.Unlock()
	if err != nil {
		w.call(func() { w.onError(err) })
		return err
	}
	if changed {
		w.call(func() { w.onChange(slices.Clone(set)) })
	}
	return nil
}

// call runs a callback, turning a panic into an error for OnError (a
// panicking OnError is only contained).
func (w *Watcher) call(f func()) {
	defer func() {
		if v := recover(); v != nil {
			func() {
				defer func() { _ = recover() }()
				w.onError(fmt.Errorf("discovery %s: callback panicked: %v", w.cfg.Name, v))
			}()
		}
	}()
	f()
}

// Start runs the lookups in one goroutine until ctx is done or Stop is
// called: at once, unless Refresh has already looked up, and then after
// each lookup's wait. Calls after the first do nothing.
func (w *Watcher) Start(ctx context.Context) {
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	if w.started {
		return
	}
	w.started = true
	ctx, w.cancel = context.WithCancel(ctx)
	go w.run(ctx)
}

// Stop ends the lookups and waits until the Watcher's goroutine has
// returned. It is safe to call more than once and without Start.
func (w *Watcher) Stop() {
	w.stopOnce.Do(func() {
		w.lifeMu.Lock()
		started := w.started
		w.started = true // a Start after Stop does nothing
		cancel := w.cancel
		w.lifeMu.Unlock()
		if !started {
			close(w.done)
			return
		}
		cancel()
	})
	<-w.done
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	w.mu.Lock()
	wait := w.wait
	if !w.looked {
		wait = 0
	}
	w.mu.Unlock()
	for {
		if wait > 0 {
			ch, stop := w.after(wait)
			select {
			case <-ctx.Done():
				stop()
				return
			case <-ch:
			}
		}
		if ctx.Err() != nil {
			return
		}
		_ = w.Refresh(ctx)
		w.mu.Lock()
		wait = w.wait
		w.mu.Unlock()
	}
}
