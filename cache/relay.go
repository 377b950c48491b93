package cache

import (
	"fmt"
	"net/http"
	"sync"
)

// relay writes the body of a shared fill to the leader's own client from a
// goroutine of its own, so that the fill, and every request waiting on it,
// goes at the backend's pace and never at the leader's client's. The
// leader's fetch appends the body to the recorder's buffer (bounded by
// MaxEntryBytes) and publishes it; the relay writes out what it has not
// yet sent. The buffer is only ever appended to, so a published slice
// stays valid after the fetch appends more, even into a new array.
//
// The relay is the only writer to the client from the moment it starts
// until it exits: the fetch side touches the client's writer again only
// after waiting for that. It exits when closed and everything published
// was written, when aborted, or at the first write error (the client went
// away: the fill goes on for the waiters).
type relay struct {
	w      http.ResponseWriter
	wake   chan struct{} // capacity 1: something to look at
	exited chan struct{}

	mu     sync.Mutex
	buf    []byte // everything published so far
	flush  bool   // the fetch flushed: flush after writing what is there
	closed bool   // nothing more will be published
	abort  bool   // stop at once
	err    error  // the write error it stopped at
}

func startRelay(w http.ResponseWriter) *relay {
	rl := &relay{w: w, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	go rl.run()
	return rl
}

func (rl *relay) run() {
	defer close(rl.exited)
	defer func() {
		// A writer that panics must not take the process down from a
		// goroutine no handler recovers: it counts as a failed write.
		if v := recover(); v != nil {
			rl.fail(fmt.Errorf("writing to client: panic: %v", v))
		}
	}()
	sent := 0
	for {
		rl.mu.Lock()
		chunk, flush, closed, abort := rl.buf[sent:], rl.flush, rl.closed, rl.abort
		rl.flush = false
		rl.mu.Unlock()
		if abort {
			return
		}
		if len(chunk) > 0 {
			n, err := rl.w.Write(chunk)
			sent += n
			if err != nil {
				rl.fail(err)
				return
			}
		}
		if flush {
			if err := http.NewResponseController(rl.w).Flush(); err != nil && err != http.ErrNotSupported {
				rl.fail(err)
				return
			}
		}
		if len(chunk) == 0 && !flush {
			if closed {
				return
			}
			<-rl.wake
		}
	}
}

func (rl *relay) fail(err error) {
	rl.mu.Lock()
	rl.err = err
	rl.mu.Unlock()
}

func (rl *relay) signal() {
	select {
	case rl.wake <- struct{}{}:
	default:
	}
}

// publish hands the relay the body so far (and a flush, if asked).
func (rl *relay) publish(buf []byte, flush bool) {
	rl.mu.Lock()
	rl.buf = buf
	rl.flush = rl.flush || flush
	rl.mu.Unlock()
	rl.signal()
}

// drain lets the relay write out what was published, waits for it to
// exit and returns the write error it stopped at, if any. After drain the
// caller owns the client's writer again.
func (rl *relay) drain() error {
	rl.mu.Lock()
	rl.closed = true
	rl.mu.Unlock()
	rl.signal()
	<-rl.exited
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.err
}

// stop makes the relay exit after the write in progress, if any, and
// waits for it: the response is being abandoned (a panicking fetch).
func (rl *relay) stop() {
	rl.mu.Lock()
	rl.abort = true
	rl.mu.Unlock()
	rl.signal()
	<-rl.exited
}
