package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Store states, in health.state.
const (
	stateHealthy int32 = iota
	stateDegraded
	stateClosed
)

// health tracks whether Redis answers. The first failed call makes the
// Store degraded: requests then go straight to the failure policy, without
// touching Redis, until the probe goroutine's call succeeds. The goroutine
// wakes every ProbeInterval and does nothing while the Store is healthy.
type health struct {
	// state is read on every request: one atomic load decides whether
	// Redis is used at all.
	state atomic.Int32

	calls, errs, transitions atomic.Uint64

	// mu serialises transitions and OnStateChange calls.
	mu       sync.Mutex
	onChange func(degraded bool, err error)

	// ping is the probe's call: the script on a key of its own.
	ping func(context.Context) error
	// ctx is cancelled by Close, ending calls in flight.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// start begins probing Redis with ping every s.ProbeInterval.
func (h *health) start(s Settings, ping func(context.Context) error) {
	h.onChange = s.OnStateChange
	h.ping = ping
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.done = make(chan struct{})
	probeTimeout := s.DialTimeout + s.ReadTimeout
	go h.probe(s.ProbeInterval, probeTimeout)
}

// probe calls Redis every interval while the Store is degraded, and makes
// it healthy again on the first answer. It returns when ctx is cancelled.
func (h *health) probe(interval, timeout time.Duration) {
	defer close(h.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-tick.C:
		}
		if h.state.Load() != stateDegraded {
			continue
		}
		ctx, cancel := context.WithTimeout(h.ctx, timeout)
		err := h.ping(ctx)
		cancel()
		h.calls.Add(1)
		if err != nil {
			h.errs.Add(1)
			continue
		}
		h.transition(stateDegraded, stateHealthy, nil)
	}
}

// fail records a failed Redis call and makes the Store degraded.
func (h *health) fail(err error) {
	h.errs.Add(1)
	h.transition(stateHealthy, stateDegraded, err)
}

// transition moves from one state to another, counting it and telling
// OnStateChange, unless the state has already moved on.
func (h *health) transition(from, to int32, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.state.CompareAndSwap(from, to) {
		return
	}
	h.transitions.Add(1)
	if h.onChange != nil {
		h.onChange(to == stateDegraded, err)
	}
}

// stop marks the Store closed, cancels calls in flight and waits for the
// probe goroutine to return.
func (h *health) stop() {
	h.mu.Lock()
	h.state.Store(stateClosed)
	h.mu.Unlock()
	h.cancel()
	<-h.done
}

// Degraded reports whether Redis is currently considered unavailable, so
// that requests are decided by the FailurePolicy.
func (s *Store) Degraded() bool { return s.state.Load() == stateDegraded }

// RedisCalls reports how many script calls, the probe's included, the
// Store has made since New.
func (s *Store) RedisCalls() uint64 { return s.calls.Load() }

// Errors reports how many of those calls failed: timeouts, refused
// connections, error replies. Each failure while healthy is also a
// transition to degraded.
func (s *Store) Errors() uint64 { return s.errs.Load() }

// Transitions reports how many times the Store has switched between healthy
// and degraded, in either direction.
func (s *Store) Transitions() uint64 { return s.transitions.Load() }
