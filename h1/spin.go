package h1

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Waiting for a response by polling.
//
// When a request has been written, the exchange normally blocks in a read:
// its goroutine parks, the runtime's thread goes to sleep in epoll, and
// when the backend answers the kernel wakes that thread, which wakes the
// goroutine. On a lightly loaded proxy that sleep and wake-up is a large
// part of the time a fast backend takes (measured on the 2-core bench
// machine, one client connection: 110-135 µs from request written to
// response parsed, against 70 µs for the same exchange from a lone Go
// client).
//
// With SpinWait set, an exchange may first poll its socket (a
// non-blocking peek in a tight loop) for up to
// SpinWait, and block only if the answer has not come by then. Whether
// polling pays depends on where the backend runs: against a backend in
// another process it took 20-35 µs off the median at one client
// connection; against one in the same process it tripled the round trip
// (16 µs -> 48 µs, BenchmarkRoundTrip), since the spinning goroutine keeps
// the runtime from running the backend's promptly. So it is measured, per
// host: each of the two ways keeps a smoothed wait, the better one is
// used, and every probeEvery-th exchange uses the other to keep its figure
// current.
//
// Polling happens only while the Transport serves one request at a time:
// none of the last calmExchanges exchanges found another one awaiting its
// response. As soon as two overlap it stops, until the load has been
// sequential again for that long: polling while other requests are in
// progress takes a processor from them, the backend and the clients
// (measured with two client connections: 8,800-9,200 requests/s without
// polling, 7,100-7,700 with a gate that only looked at the current
// moment). Never with GOMAXPROCS 1, nor for a host whose blocking waits
// exceed spinSkipFactor × SpinWait (the poll would time out anyway).

const (
	// spinSkipFactor: a host whose smoothed blocking wait exceeds SpinWait
	// times this is not polled for.
	spinSkipFactor = 2
	// calmExchanges is how many exchanges in a row must each have been
	// the only one awaiting a response before polling is considered.
	calmExchanges = 64
	// probeEvery: one calm exchange in this many waits the other way, so
	// that both figures stay current.
	probeEvery = 64
	// sampleClamp bounds a recorded wait, in units of SpinWait (above
	// spinSkipFactor, so a slow host still reads as slow).
	sampleClamp = 4
)

// waitMode is how one exchange awaits its response.
type waitMode uint8

const (
	waitBusy  waitMode = iota // blocks; the Transport is not calm, nothing is learnt
	waitBlock                 // blocks; its wait is recorded as a blocking wait
	waitPoll                  // polls first; its wait is recorded as a polling wait
)

// spinner decides, per exchange, how to wait; one per Transport.
type spinner struct {
	limit    time.Duration
	awaiting atomic.Int32  // exchanges between request written and response parsed
	calm     atomic.Int32  // exchanges in a row that found no other awaiting, up to calmExchanges
	seq      atomic.Uint32 // calm exchanges, for probing
}

func newSpinner(limit time.Duration) *spinner {
	if limit <= 0 || runtime.GOMAXPROCS(0) < 2 {
		return nil
	}
	return &spinner{limit: limit}
}

// waitStart registers an exchange that begins to await its response from
// hp and says how it should wait.
func (s *spinner) waitStart(hp *hostPool) waitMode {
	if s == nil {
		return waitBusy
	}
	if s.awaiting.Add(1) > 1 {
		if s.calm.Load() != 0 { // under load: only loads, no shared stores
			s.calm.Store(0)
		}
		return waitBusy
	}
	if c := s.calm.Load(); c < calmExchanges {
		s.calm.Store(c + 1)
		return waitBusy
	}
	polled, blocked := hp.waitPolled.Load(), hp.waitBlocked.Load()
	var poll bool
	switch {
	case time.Duration(blocked) > spinSkipFactor*s.limit:
		return waitBlock
	case polled == 0:
		poll = true // not measured yet
	case blocked == 0:
		poll = false
	default:
		poll = polled <= blocked
	}
	if s.seq.Add(1)%probeEvery == 0 {
		poll = !poll
	}
	if poll {
		return waitPoll
	}
	return waitBlock
}

// waitEnd unregisters the exchange and folds the wait it saw into its
// host's figure for its mode.
func (s *spinner) waitEnd(hp *hostPool, m waitMode, waited time.Duration) {
	if s == nil {
		return
	}
	s.awaiting.Add(-1)
	// A wait past a few limits says "slow" whatever its size; clamped, one
	// descheduled exchange (a 2 ms outlier) cannot swing the comparison.
	waited = min(waited, sampleClamp*s.limit)
	switch m {
	case waitPoll:
		smooth(&hp.waitPolled, waited)
	case waitBlock:
		smooth(&hp.waitBlocked, waited)
	}
}

// smooth folds a sample into an exponentially weighted average (1/8 per
// sample; the first sample is taken whole). Concurrent updates may lose a
// sample, which an average can afford.
func smooth(avg *atomic.Int64, sample time.Duration) {
	old := avg.Load()
	if old == 0 {
		avg.Store(max(int64(sample), 1))
		return
	}
	avg.Store(old + (int64(sample)-old)/8)
}

// poll waits for c's socket to have something to read (or to fail) for at
// most limit, and reports whether it did. Bytes already buffered count.
// Its peeks, like the checkout's, look at no deadline (quiet): an abort
// meanwhile is met by the read that follows, at most limit later.
func (c *conn) poll(limit time.Duration) bool {
	if c.br.Buffered() > 0 {
		return true
	}
	if c.raw == nil {
		return false
	}
	start := time.Now()
	for {
		c.ready = false
		if err := c.raw.Control(c.readableFn); err != nil || c.ready {
			return true
		}
		if time.Since(start) >= limit {
			return false
		}
		// No runtime.Gosched here: it hands the goroutine to the global
		// queue and wakes an idle thread to take it, and that thread's
		// spinning takes the processor the backend needs. Polling only
		// happens when nothing else is in progress, and it is bounded.
	}
}
