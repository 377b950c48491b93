// Package health decides whether each backend of a proxy should receive
// traffic, and tells whoever cares when that decision changes.
//
// Two signals feed one state per backend. Active checks: a Checker probes
// every target on its own goroutine, at a jittered interval, and a backend
// changes state only after HealthyThreshold consecutive passes ("rise") or
// UnhealthyThreshold consecutive failures ("fall"), so one lost probe does
// not flap the pool. Passive checks: the proxy reports the outcome of real
// requests with Record.ReportPassive; a streak of PassiveFailures failures
// marks the backend unhealthy at once, and it comes back through the active
// checker (or, when active checks are off, after PassiveCooldown).
//
// The state of a backend lives in a Record, not in the Checker, so that it
// can outlive a Checker: a config reload makes a new Checker and hands it
// the previous Records, and a backend known to be dead stays dead.
//
// Observer pattern: Observers subscribe to a Checker and are told of every
// transition of every Record that Checker runs, whether an active check or
// a passive report caused it. For one Record, transitions are delivered in
// the order they happened, exactly once to each subscribed Observer, and
// never two at a time; see Observer for the details.
package health

import (
	"errors"
	"fmt"
	"time"
)

// State is the health of one backend. The zero value is Healthy, so a
// Settings or Record that says nothing starts out serving traffic.
type State int32

// The two states. There is no "unknown": a backend that has not been
// probed yet is in its initial state (Settings.InitialState).
const (
	Healthy State = iota
	Unhealthy
)

// ErrInvalidState is returned by State.UnmarshalText for a word other
// than "healthy" or "unhealthy".
var ErrInvalidState = errors.New("invalid health state")

// String returns "healthy" or "unhealthy", the words used in logs and in the
// status API.
func (s State) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Unhealthy:
		return "unhealthy"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// MarshalText makes a State appear as its word in JSON status documents.
func (s State) MarshalText() ([]byte, error) {
	if s != Healthy && s != Unhealthy {
		return nil, fmt.Errorf("%w: %d", ErrInvalidState, int32(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText accepts "healthy" or "unhealthy", so a config can spell
// initial_state as a word.
func (s *State) UnmarshalText(b []byte) error {
	switch string(b) {
	case "healthy":
		*s = Healthy
	case "unhealthy":
		*s = Unhealthy
	default:
		return fmt.Errorf("%w %q: want healthy or unhealthy", ErrInvalidState, b)
	}
	return nil
}

// Transition is one change of a backend's state, as told to Observers.
type Transition struct {
	// Target is the name of the backend, as given in Target.Name.
	Target string
	// From and To are the states before and after; they always differ.
	From, To State
	// Reason says what caused the change, for logs and the status API,
	// e.g. "3 consecutive failed checks: status 503 not in 2xx".
	Reason string
	// At is when the change happened, by the Checker's clock.
	At time.Time
}

// Observer is told of state changes.
//
// Observe is called synchronously: on the goroutine that caused the
// transition (the target's check goroutine, or a request goroutine calling
// ReportPassive), or, when another goroutine is already delivering that
// same target's transitions, by that goroutine right after the ones before.
// Hence, for one target, calls never overlap and come in order; for
// different targets they may run concurrently, so an Observer that keeps
// shared state must guard it. Observe should return quickly: it holds up
// the goroutine it runs on, which may be serving a request. It may call back
// into the package (State, Status, even ReportPassive); a transition it
// causes is delivered after it returns. A panic in Observe is recovered and
// logged, and the other Observers are still told.
type Observer interface {
	Observe(Transition)
}

// ObserverFunc lets a plain function be an Observer.
type ObserverFunc func(Transition)

// Observe calls f(t).
func (f ObserverFunc) Observe(t Transition) { f(t) }

// Interface guards
var _ Observer = ObserverFunc(nil)
