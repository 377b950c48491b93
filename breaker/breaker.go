// Package breaker is a per-backend circuit breaker with exponential backoff.
//
// A Breaker is closed (requests flow), open (requests are refused while a
// backoff runs) or half-open (a few probe requests test the backend). It
// trips from closed to open after FailureThreshold consecutive failures, or,
// when enabled, when the error ratio or a latency quantile over a rolling
// window is too high. After the backoff it lets probes through; enough
// successful probes close it and reset the backoff, a failed probe opens it
// again with the backoff doubled (capped, with jitter).
//
// The API has two steps to fit a proxy, where the outcome of a request is
// known only after it is forwarded:
//
//	done, err := b.Allow()
//	if err != nil { /* ErrOpen or ErrTooManyProbes: pick another backend */ }
//	... forward ...
//	done.Report(ok, latency) // or done.ReportAt(end, ok, latency)
//
// In the closed state Allow and Report take no lock and allocate nothing;
// transitions take a mutex, and the open -> half-open transition happens
// lazily when Allow or State sees that the backoff has run out, so a
// Breaker starts no goroutine. A pool that wants to re-check an open
// backend at the right time asks NextProbe, or Ready for a side-effect-free
// answer.
package breaker

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by Allow.
var (
	// ErrOpen means the breaker is open: the backend failed recently and
	// its backoff has not run out.
	ErrOpen = errors.New("circuit breaker is open")
	// ErrTooManyProbes means the breaker is half-open and all its probe
	// slots are taken.
	ErrTooManyProbes = errors.New("circuit breaker is half-open and has too many probes in flight")
)

// State is the position of a breaker. Its integer values are the ones to
// export as a gauge: closed 0, half-open 1, open 2, so that a higher value
// is a less available backend.
type State int

// The states of a breaker.
const (
	Closed   State = 0
	HalfOpen State = 1
	Open     State = 2
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "unknown"
}

// Breaker guards one backend. Create it with New; it is safe for concurrent
// use and must not be copied.
type Breaker struct {
	// word holds generation<<2 | state. The generation grows by one on
	// every transition, so a Done issued before a transition can be told
	// from one issued after it with a single comparison.
	word atomic.Uint64
	// fails counts consecutive failures in the closed state.
	fails atomic.Int64
	// openUntil is when the current open period ends, in nanoseconds since
	// start; meaningful only while open.
	openUntil atomic.Int64
	// probes is the number of probes in flight (written under mu, read
	// atomically by Ready).
	probes atomic.Int64
	// backoff is the jittered length of the last open period; 0 once closed.
	backoff atomic.Int64
	trips   atomic.Uint64
	ignored atomic.Uint64

	s     Settings // with defaults applied
	start time.Time
	win   *window // nil unless ErrorRatio or LatencyThreshold is set

	mu        sync.Mutex
	streak    int // consecutive probe successes in half-open
	consTrips int // trips since the last close
	pending   []transition
	head      int  // pending[head:] are not delivered yet
	notifying bool // a goroutine is delivering pending
}

// New returns a closed Breaker, or an error wrapping ErrInvalidSettings.
func New(s Settings) (*Breaker, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	b := &Breaker{s: s, start: s.Now()}
	if s.windowed() {
		b.win = newWindow(int64(s.Window))
	}
	return b, nil
}

// Done carries an admitted request to its outcome. It is a small value,
// so Allow allocates nothing. Call exactly one of Report, ReportAt or
// Discard, once: a probe that is never reported holds its probe slot for
// good, and an outcome reported twice counts twice.
//
// An outcome reported after the breaker changed state since the request
// was admitted is ignored (and counted in Counts.Ignored): it describes the
// backend as it was before the breaker's last decision, and counting it
// would, for instance, let a request admitted long before a trip close a
// breaker or trip it again. The zero Done ignores everything.
type Done struct {
	b    *Breaker
	word uint64 // the breaker's word at admission
}

// Allow admits a request or refuses it with ErrOpen or ErrTooManyProbes.
// In the closed state it is one atomic load.
func (b *Breaker) Allow() (Done, error) {
	w := b.word.Load()
	if State(w&3) == Closed {
		return Done{b: b, word: w}, nil
	}
	return b.allowSlow(w)
}

func (b *Breaker) allowSlow(w uint64) (Done, error) {
	if State(w&3) == Open && b.since(b.s.Now()) < b.openUntil.Load() {
		return Done{}, ErrOpen
	}
	b.mu.Lock()
	w = b.word.Load()
	switch State(w & 3) {
	case Closed:
		b.mu.Unlock()
		return Done{b: b, word: w}, nil
	case Open:
		if b.since(b.s.Now()) < b.openUntil.Load() {
			b.mu.Unlock()
			return Done{}, ErrOpen
		}
		w = b.toHalfOpen()
	}
	var d Done
	err := ErrTooManyProbes
	if b.probes.Load() < int64(b.s.HalfOpenRequests) {
		b.probes.Add(1)
		d, err = Done{b: b, word: w}, nil
	}
	b.unlockAndNotify()
	return d, err
}

// Report records the outcome of the admitted request: whether it
// succeeded (the caller decides what a failure is, e.g. a dial error or a
// 5xx) and how long it took. The latency matters only when
// LatencyThreshold is set. With the window on (ErrorRatio or
// LatencyThreshold), Report reads the clock; ReportAt saves that read.
func (d Done) Report(success bool, latency time.Duration) {
	d.report(time.Time{}, false, success, latency)
}

// ReportAt is Report for a caller that has just read the clock anyway (to
// measure the latency): now is when the request ended, from the same clock
// as Settings.Now. It spares the rolling window a clock read of its own.
func (d Done) ReportAt(now time.Time, success bool, latency time.Duration) {
	d.report(now, true, success, latency)
}

func (d Done) report(at time.Time, haveAt, success bool, latency time.Duration) {
	b := d.b
	if b == nil {
		return
	}
	if b.word.Load() != d.word {
		b.ignored.Add(1)
		return
	}
	if State(d.word&3) == HalfOpen {
		b.reportProbe(d.word, success, latency)
		return
	}
	slow := b.s.LatencyThreshold > 0 && latency > b.s.LatencyThreshold
	var now int64
	if b.win != nil {
		if !haveAt {
			at = b.s.Now()
		}
		now = b.since(at)
		b.win.record(now, !success, slow)
	}
	if success {
		if b.fails.Load() != 0 {
			b.fails.Store(0)
		}
	} else if n := b.fails.Add(1); n >= int64(b.s.FailureThreshold) {
		b.trip(d.word, consecutiveReason(n))
		return
	}
	if b.win != nil && (!success || slow) {
		if reason := b.windowVerdict(now); reason != "" {
			b.trip(d.word, reason)
		}
	}
}

// Discard gives up the admitted request without an outcome, e.g. when the
// client went away before the backend answered: it frees a probe slot but
// counts neither a success nor a failure.
func (d Done) Discard() {
	b := d.b
	if b == nil || State(d.word&3) != HalfOpen {
		return
	}
	b.mu.Lock()
	if b.word.Load() == d.word {
		b.probes.Add(-1)
	}
	b.mu.Unlock()
}

// Ready reports whether Allow would admit a request at now, without
// changing anything: closed, half-open with a free probe slot, or open
// with its backoff run out.
func (b *Breaker) Ready(now time.Time) bool {
	w := b.word.Load()
	switch State(w & 3) {
	case Closed:
		return true
	case HalfOpen:
		return b.probes.Load() < int64(b.s.HalfOpenRequests)
	}
	return b.since(now) >= b.openUntil.Load()
}

// State returns the current state. An open breaker whose backoff has run
// out moves to half-open here (and OnStateChange is told), so State never
// reports open for a backend that would be probed.
func (b *Breaker) State() State {
	w := b.word.Load()
	if State(w&3) == Open && b.since(b.s.Now()) >= b.openUntil.Load() {
		b.mu.Lock()
		w = b.word.Load()
		if State(w&3) == Open && b.since(b.s.Now()) >= b.openUntil.Load() {
			w = b.toHalfOpen()
		}
		b.unlockAndNotify()
	}
	return State(w & 3)
}

// NextProbe returns when an open breaker will admit a probe, so a pool can
// schedule its re-check. It returns the zero Time when the breaker is not
// open: a closed or half-open breaker imposes no wait of its own.
func (b *Breaker) NextProbe() time.Time {
	w := b.word.Load()
	if State(w&3) != Open {
		return time.Time{}
	}
	return b.start.Add(time.Duration(b.openUntil.Load()))
}

// Trips returns how many times the breaker has opened since New, counting
// both trips from closed and failed probes.
func (b *Breaker) Trips() uint64 { return b.trips.Load() }

// CurrentBackoff returns the length of the current or last open period,
// jitter included, while the breaker is open or half-open; 0 once it has
// closed (the backoff is reset).
func (b *Breaker) CurrentBackoff() time.Duration {
	return time.Duration(b.backoff.Load())
}

// since converts a clock reading to nanoseconds since the breaker's start.
// time.Time.Sub uses the monotonic clock when both readings carry it, so a
// wall-clock step does not shorten or stretch a backoff.
func (b *Breaker) since(t time.Time) int64 {
	return int64(t.Sub(b.start))
}
