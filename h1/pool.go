package h1

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// hostPool holds one backend host's idle connections as a stack: the most
// recently used connection is reused first (its buffers and the backend's
// state for it are warm), and the oldest sink to the bottom, where idle
// expiry finds them.
type hostPool struct {
	addr string // host:port to dial
	// Smoothed time from request written to response parsed, ns, of calm
	// exchanges that polled first and of those that blocked (SpinWait
	// only; 0 until measured).
	waitPolled, waitBlocked atomic.Int64

	mu   sync.Mutex
	idle []*conn // idle[len-1] is the most recent
}

// getConn returns an idle connection to hp, or dials one. It is the only
// way out of the pool, and every pooled connection is checked on it (see
// conn.quiet): one that the backend closed, or sent bytes on while it
// idled, is closed, never used.
func (t *Transport) getConn(ctx context.Context, hp *hostPool) (*conn, error) {
	for {
		c := t.pop(hp)
		if c == nil {
			return t.dialConn(ctx, hp)
		}
		if !c.quiet() {
			c.close()
			continue
		}
		return c, nil
	}
}

// pop takes the most recent idle connection, or nil. When even that one
// has idled past IdleTimeout, all of them have: they are closed.
func (t *Transport) pop(hp *hostPool) *conn {
	hp.mu.Lock()
	n := len(hp.idle)
	if n == 0 {
		hp.mu.Unlock()
		return nil
	}
	c := hp.idle[n-1]
	if t.now().Sub(c.idleSince) < t.cfg.IdleTimeout {
		hp.idle[n-1] = nil
		hp.idle = hp.idle[:n-1]
		hp.mu.Unlock()
		return c
	}
	dead := hp.idle
	hp.idle = nil
	hp.mu.Unlock()
	for _, d := range dead {
		d.close()
	}
	return nil
}

// put returns c to its host's pool, or closes it when the pool is full,
// keep-alive is off or the Transport is closed.
func (t *Transport) put(c *conn) {
	c.idleSince = t.now()
	c.reused = true
	hp := c.hp
	hp.mu.Lock()
	// closed is read under hp.mu: Close sets it before it empties each
	// pool under the same lock, so no connection slips in afterwards.
	if t.closed.Load() || len(hp.idle) >= t.cfg.MaxIdlePerHost {
		hp.mu.Unlock()
		c.close()
		return
	}
	hp.idle = append(hp.idle, c)
	hp.mu.Unlock()
	if !t.reaping.Load() {
		t.startReaper()
	}
}

// closeIdle closes every idle connection of hp.
func (hp *hostPool) closeIdle() {
	hp.mu.Lock()
	dead := hp.idle
	hp.idle = nil
	hp.mu.Unlock()
	for _, c := range dead {
		c.close()
	}
}

// expire closes the connections of hp idle since cutoff or earlier.
func (hp *hostPool) expire(cutoff time.Time) int {
	hp.mu.Lock()
	i := 0
	for i < len(hp.idle) && !hp.idle[i].idleSince.After(cutoff) {
		i++
	}
	if i == 0 {
		hp.mu.Unlock()
		return 0
	}
	dead := make([]*conn, i)
	copy(dead, hp.idle[:i])
	n := copy(hp.idle, hp.idle[i:])
	clear(hp.idle[n:])
	hp.idle = hp.idle[:n]
	hp.mu.Unlock()
	for _, c := range dead {
		c.close()
	}
	return i
}

// reap closes every connection idle for IdleTimeout or more at now and
// reports how many it closed.
func (t *Transport) reap(now time.Time) int {
	cutoff := now.Add(-t.cfg.IdleTimeout)
	n := 0
	for _, hp := range *t.hosts.Load() {
		n += hp.expire(cutoff)
	}
	return n
}

// idleCount reports the idle connections pooled across hosts.
func (t *Transport) idleCount() int {
	n := 0
	for _, hp := range *t.hosts.Load() {
		hp.mu.Lock()
		n += len(hp.idle)
		hp.mu.Unlock()
	}
	return n
}

// reaper is the Transport's one background goroutine: it closes idle
// connections of hosts that no request visits any more (pop expires the
// others lazily). It starts with the first pooled connection and stops
// on Close.
type reaper struct {
	quit chan struct{}
	done chan struct{}
}

func (t *Transport) startReaper() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reaper != nil || t.closed.Load() {
		return
	}
	r := &reaper{quit: make(chan struct{}), done: make(chan struct{})}
	t.reaper = r
	t.reaping.Store(true)
	every := t.cfg.IdleTimeout / 2
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-r.quit:
				return
			case <-tick.C:
				t.reap(t.now())
			}
		}
	}()
}

func (r *reaper) stop() {
	close(r.quit)
	<-r.done
}

// quiet reports whether nothing from the backend awaits reading: no byte
// buffered, and none readable on the socket, nor its close. Only a quiet
// connection may carry another exchange; getConn checks every one it
// takes from the pool (release checks only the buffer). The socket check
// is one non-blocking peek (MSG_PEEK), on Unix only: elsewhere only the
// buffer is checked.
//
// The peek runs through RawConn.Control, which, unlike RawConn.Read,
// looks at no deadline: a connection idle for longer than the read
// deadline its last exchange left (the context check's, 200-250 ms, at
// any lull in traffic; or the one the connection's wrapper set for its
// last read, timeouts.read) is peeked at as any other, where Read failed
// on the expired deadline without looking, and the deadline had to be
// lifted (a runtime timer's change) and the peek made again. The expired
// deadline stays; the exchange sets its own before it reads (armDeadline,
// awaitContinue), as it would have after a lift.
func (c *conn) quiet() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.raw == nil || !canPeek {
		return true
	}
	c.ready = false
	err := c.raw.Control(c.readableFn)
	return err == nil && !c.ready
}
