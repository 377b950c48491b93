package breaker

import "time"

// Counts is a snapshot of a breaker for a status page or metrics. Its
// fields are read one by one, so under concurrent use they may be a few
// requests apart from each other.
type Counts struct {
	// State is the stored state; an open breaker whose backoff has run out
	// still shows Open here (Counts changes nothing) with NextProbe in the
	// past.
	State State
	// ConsecutiveFailures is the current run of failures in the closed
	// state (0 in the other states).
	ConsecutiveFailures int64
	// ProbesInFlight and ProbeSuccesses describe the half-open state: probes
	// admitted and not yet reported, and the current run of successful
	// probes.
	ProbesInFlight int64
	ProbeSuccesses int
	// Trips is the total number of openings since New; ConsecutiveTrips
	// the number since the breaker last closed, which sets the backoff.
	Trips            uint64
	ConsecutiveTrips int
	// Backoff is CurrentBackoff; NextProbe is NextProbe.
	Backoff   time.Duration
	NextProbe time.Time
	// WindowRequests, WindowFailures and WindowSlow are the rolling
	// window's totals; zero when neither ErrorRatio nor LatencyThreshold is
	// set.
	WindowRequests, WindowFailures, WindowSlow uint64
	// Ignored counts outcomes reported after the breaker had changed state
	// since their request was admitted.
	Ignored uint64
}

// Counts returns a snapshot of the breaker. It changes nothing.
func (b *Breaker) Counts() Counts {
	b.mu.Lock()
	c := Counts{
		State:               State(b.word.Load() & 3),
		ConsecutiveFailures: b.fails.Load(),
		ProbesInFlight:      b.probes.Load(),
		ProbeSuccesses:      b.streak,
		Trips:               b.trips.Load(),
		ConsecutiveTrips:    b.consTrips,
		Backoff:             b.CurrentBackoff(),
		Ignored:             b.ignored.Load(),
	}
	b.mu.Unlock()
	if c.State != Closed {
		c.ConsecutiveFailures = 0
	}
	if c.State != HalfOpen {
		c.ProbesInFlight, c.ProbeSuccesses = 0, 0
	}
	if c.State == Open {
		c.NextProbe = b.start.Add(time.Duration(b.openUntil.Load()))
	}
	if b.win != nil {
		c.WindowRequests, c.WindowFailures, c.WindowSlow = b.win.sum(b.since(b.s.Now()))
	}
	return c
}
