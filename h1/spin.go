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
// goroutine. On a lightly loaded proxy that sleep and wake-up is most of
// the time a fast backend takes (measured on the 2-core bench machine, one
// client connection: 110-135 µs from request written to response parsed,
// against 70 µs for the same exchange from a Go client alone).
//
// With SpinWait set, an exchange on a Transport that is serving one request
// at a time first polls its socket (a non-blocking peek, yielding the
// processor between peeks) for up to SpinWait, and blocks only if the
// answer has not come by then. "One at a time" means that none of the last
// calmExchanges exchanges found another one awaiting its response: as soon
// as two overlap, polling stops until the load has been sequential again
// for that long. Polling while other requests are in progress takes a
// processor from them, the backend and the clients: measured with two
// client connections, 8,800-9,200 requests/s without polling and
// 7,100-7,700 with a gate that only looked at the current moment. It never
// polls when GOMAXPROCS is 1, nor for a host whose recent answers took
// longer than twice SpinWait (the spin would mostly be wasted). The cost
// is bounded CPU on an otherwise idle machine; the gain is latency at low
// load.

// spinSkipFactor: a host whose smoothed wait exceeds SpinWait times this is
// not polled for.
const spinSkipFactor = 2

// calmExchanges is how many exchanges in a row must each have been the
// only one awaiting a response before polling starts.
const calmExchanges = 64

// spinner decides, per exchange, whether to poll; one per Transport.
type spinner struct {
	limit    time.Duration
	awaiting atomic.Int32 // exchanges between request written and response parsed
	calm     atomic.Int32 // exchanges in a row that found no other awaiting, up to calmExchanges
}

func newSpinner(limit time.Duration) *spinner {
	if limit <= 0 || runtime.GOMAXPROCS(0) < 2 {
		return nil
	}
	return &spinner{limit: limit}
}

// waitStart registers an exchange that begins to await its response and
// reports whether it should poll first.
func (s *spinner) waitStart(hp *hostPool) bool {
	if s == nil {
		return false
	}
	if s.awaiting.Add(1) > 1 {
		if s.calm.Load() != 0 { // under load: only loads, no shared stores
			s.calm.Store(0)
		}
		return false
	}
	if c := s.calm.Load(); c < calmExchanges {
		s.calm.Store(c + 1)
		return false
	}
	return time.Duration(hp.wait.Load()) <= spinSkipFactor*s.limit
}

// waitEnd unregisters the exchange and folds the wait it saw into its
// host's average.
func (s *spinner) waitEnd(hp *hostPool, waited time.Duration) {
	if s == nil {
		return
	}
	s.awaiting.Add(-1)
	// An exponentially weighted average (1/8 per sample); concurrent
	// updates may lose a sample, which an average can afford.
	old := hp.wait.Load()
	hp.wait.Store(old + (int64(waited)-old)/8)
}

// poll waits for c's socket to have something to read (or to fail) for at
// most limit, and reports whether it did. Bytes already buffered count.
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
		if err := c.raw.Read(c.readableFn); err != nil || c.ready {
			return true
		}
		if time.Since(start) >= limit {
			return false
		}
		runtime.Gosched()
	}
}
