package health

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Status is a snapshot of one backend's health, for the status API.
type Status struct {
	// State is the current state.
	State State
	// Since is when State was entered; zero while the backend is still in
	// the state its Record was made with.
	Since time.Time
	// Reason says why State was entered; empty for the initial state.
	Reason string
	// LastCheck is when the last active check finished; zero before the first.
	LastCheck time.Time
	// LastError is why the last active check failed; nil if it passed.
	LastError error
	// LastLatency is how long the last active check took.
	LastLatency time.Duration
	// Passes and Failures are the current streaks of passing and failing
	// active checks; one of them is always 0.
	Passes, Failures int
	// PassiveFailures is the current streak of failed real requests.
	PassiveFailures int64
}

// Record holds the health of one backend: its state and the streaks that
// move it. It is separate from the Checker so that it can outlive one: keep
// Records across config reloads (the proxy keeps them in a Caddy UsagePool
// keyed by backend name) and pass each to the new Checker in Target.Record,
// and the new Checker carries on from the old state instead of starting
// afresh.
//
// A Record learns its policy (thresholds, passive settings) and its
// Observers from the Checkers running it: Checker.Start attaches the Record
// and Checker.Stop detaches it. While two Checkers overlap during a reload,
// both are told of its transitions and the one started last sets the
// policy; if the new one is stopped because the reload failed, the old one's
// policy is back in force. A Record run by no Checker ignores ReportPassive.
//
// Reads (State, Status) and successful ReportPassive calls take no lock and
// allocate nothing. Make one with NewRecord (the zero value is a Healthy
// Record); a Record must not be copied.
type Record struct {
	state   atomic.Int32
	passive atomic.Int64 // streak of failed requests
	// checksPassed and checksFailed count every active check, for metrics.
	checksPassed, checksFailed atomic.Uint64
	snap                       atomic.Pointer[Status]
	bind                       atomic.Pointer[binding]

	// mu serialises every state change and guards the fields below; it is
	// taken on check results, request failures and (de)attachment, never on
	// reads or successful requests.
	mu          sync.Mutex
	cur         Status // the authoritative copy that snap publishes
	cooldownGen uint64 // bumped on every transition, to void stale cooldowns
	queue       []Transition
	delivering  bool
}

// binding is what a Record knows of the Checkers running it; immutable,
// replaced whole on attach and detach.
type binding struct {
	sinks []sink
	pol   *policy // of the Checker attached last
}

// sink is one Checker running a Record, with the name it gives the Record.
type sink struct {
	c    *Checker
	name string
}

// policy is the part of a Checker's settings that a Record applies.
type policy struct {
	rise, fall      int
	passiveFailures int64
	badStatus       statusSet
	active          bool
	cooldown        time.Duration
	clock           clock
}

// NewRecord makes the Record of a backend that has none yet. Any initial
// state other than Healthy is taken as Unhealthy.
func NewRecord(initial State) *Record {
	if initial != Healthy {
		initial = Unhealthy
	}
	r := &Record{}
	r.state.Store(int32(initial))
	r.cur.State = initial
	r.publishLocked()
	return r
}

// Checks returns how many active checks passed and failed since the
// Record was made.
func (r *Record) Checks() (passed, failed uint64) {
	return r.checksPassed.Load(), r.checksFailed.Load()
}

// State returns the current state; one atomic load.
func (r *Record) State() State { return State(r.state.Load()) }

// Status returns a snapshot of the backend's health.
func (r *Record) Status() Status {
	p := r.snap.Load()
	if p == nil { // a zero Record, not made by NewRecord
		return Status{State: r.State(), PassiveFailures: r.passive.Load()}
	}
	s := *p
	s.PassiveFailures = r.passive.Load()
	return s
}

// ReportPassive records the outcome of one real request to the backend:
// success is false when no response came (connect error, timeout, reset),
// and status is the response's status code otherwise. A request counts as
// failed if !success or its status is one of PassiveUnhealthyStatuses.
// PassiveFailures failures in a row take a healthy backend out; any other
// outcome ends the streak. Observers of the running Checkers are told of the
// transition before ReportPassive returns (see Observer).
//
// The success path is lock-free and allocates nothing; it does not write
// shared memory unless a failure streak is under way.
func (r *Record) ReportPassive(success bool, status int) {
	b := r.bind.Load()
	if b == nil || b.pol.passiveFailures <= 0 {
		return
	}
	p := b.pol
	if success && !p.badStatus.has(status) {
		if r.passive.Load() != 0 {
			r.passive.Store(0)
		}
		return
	}
	n := r.passive.Add(1)
	if n < p.passiveFailures || r.State() == Unhealthy {
		return
	}
	r.tripPassive(p, n, success, status)
}

// tripPassive takes the backend out after a streak of n failed requests.
func (r *Record) tripPassive(p *policy, n int64, success bool, status int) {
	r.mu.Lock()
	if r.State() == Unhealthy {
		r.mu.Unlock()
		return
	}
	last := "no response"
	if success {
		last = fmt.Sprintf("status %d", status)
	}
	r.transitionLocked(Unhealthy, fmt.Sprintf("%d consecutive failed requests (last: %s)", n, last), p.clock.Now())
	r.cur.Passes = 0 // coming back takes a full rise of fresh passes
	if !p.active {
		r.scheduleCooldownLocked(p)
	}
	r.publishLocked()
	r.unlockAndDeliver()
}

// scheduleCooldownLocked brings the backend back after p.cooldown, unless
// another transition comes first. Only used when no active checks would.
func (r *Record) scheduleCooldownLocked(p *policy) {
	gen := r.cooldownGen
	p.clock.AfterFunc(p.cooldown, func() { r.endCooldown(p, gen) })
}

func (r *Record) endCooldown(p *policy, gen uint64) {
	r.mu.Lock()
	if gen != r.cooldownGen || r.State() != Unhealthy {
		r.mu.Unlock()
		return
	}
	r.transitionLocked(Healthy, fmt.Sprintf("passive cooldown of %v elapsed", p.cooldown), p.clock.Now())
	r.publishLocked()
	r.unlockAndDeliver()
}

// observeActive applies the result of one active check that ended at at.
func (r *Record) observeActive(p *policy, err error, at time.Time, latency time.Duration) {
	if err == nil {
		r.checksPassed.Add(1)
	} else {
		r.checksFailed.Add(1)
	}
	r.mu.Lock()
	c := &r.cur
	if err == nil {
		c.Passes++
		c.Failures = 0
	} else {
		c.Failures++
		c.Passes = 0
	}
	c.LastCheck, c.LastError, c.LastLatency = at, err, latency
	switch {
	case c.State == Healthy && c.Failures >= p.fall:
		r.transitionLocked(Unhealthy, fmt.Sprintf("%d consecutive failed checks: %v", c.Failures, err), at)
	case c.State == Unhealthy && c.Passes >= p.rise:
		r.transitionLocked(Healthy, fmt.Sprintf("%d consecutive passing checks", c.Passes), at)
	}
	r.publishLocked()
	r.unlockAndDeliver()
}

// transitionLocked moves to state to and queues the Transition for
// delivery; the caller publishes and delivers.
func (r *Record) transitionLocked(to State, reason string, at time.Time) {
	from := r.cur.State
	r.state.Store(int32(to))
	r.cur.State, r.cur.Since, r.cur.Reason = to, at, reason
	r.cooldownGen++
	if to == Healthy {
		r.passive.Store(0)
	}
	r.queue = append(r.queue, Transition{From: from, To: to, Reason: reason, At: at})
}

// publishLocked makes the current status visible to readers.
func (r *Record) publishLocked() {
	s := r.cur
	r.snap.Store(&s)
}

// unlockAndDeliver releases r.mu and tells the Observers of every queued
// transition, in order. Only one goroutine delivers at a time: one that
// finds another already delivering leaves its transitions queued for it.
// The lock is not held while an Observer runs, so an Observer may call
// back into the Record.
func (r *Record) unlockAndDeliver() {
	if r.delivering || len(r.queue) == 0 {
		r.mu.Unlock()
		return
	}
	r.delivering = true
	for len(r.queue) > 0 {
		t := r.queue[0]
		r.queue = r.queue[1:]
		r.mu.Unlock()
		r.notify(t)
		r.mu.Lock()
	}
	r.queue = nil
	r.delivering = false
	r.mu.Unlock()
}

// notify tells t to the Observers of every Checker running the Record.
func (r *Record) notify(t Transition) {
	b := r.bind.Load()
	if b == nil {
		return
	}
	for _, s := range b.sinks {
		t.Target = s.name
		s.c.notify(t)
	}
}

// attach makes c one of the Checkers running r, under the given name, and
// c's policy the one in force.
func (r *Record) attach(c *Checker, name string, p *policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	nb := &binding{pol: p}
	if old := r.bind.Load(); old != nil {
		nb.sinks = append(nb.sinks, old.sinks...)
	}
	nb.sinks = append(nb.sinks, sink{c: c, name: name})
	r.bind.Store(nb)
	if !p.active && r.cur.State == Unhealthy {
		// Nothing else would ever bring it back.
		r.scheduleCooldownLocked(p)
	}
}

// detach undoes attach; the policy of the Checker attached last before c
// comes back in force.
func (r *Record) detach(c *Checker) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.bind.Load()
	if old == nil {
		return
	}
	var sinks []sink
	for _, s := range old.sinks {
		if s.c != c {
			sinks = append(sinks, s)
		}
	}
	switch {
	case len(sinks) == len(old.sinks):
	case len(sinks) == 0:
		r.bind.Store(nil)
	default:
		r.bind.Store(&binding{sinks: sinks, pol: sinks[len(sinks)-1].c.pol})
	}
}
