package smartproxy

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/config"
)

// The causes of a 503 with Retry-After from the caps: every eligible
// backend is at its cap and the request could not wait (no queue, the
// queue full) or waited too long.
var (
	errAtCap        = errors.New("every available backend is at its max_requests")
	errQueueFull    = errors.New("every available backend is at its max_requests and the queue is full")
	errQueueTimeout = errors.New("no backend below its max_requests within the queue timeout")
)

// routeCaps is a route's in-flight caps: how long and how many requests may
// wait, and the queue (shared across reloads) they wait in.
type routeCaps struct {
	queue      *waitQueue
	size       int64 // 0: no queue, at cap means 503 at once
	timeout    time.Duration
	retryAfter string // the Retry-After value: the queue timeout in whole seconds, at least 1
}

// newRouteCaps makes the caps of route id for section s, held by hs; nil
// when no backend of s has a cap. attach gives each member its gate.
func newRouteCaps(hs *holds, id string, s config.Section) (*routeCaps, error) {
	if !s.Capped() {
		return nil, nil
	}
	q, err := waitQueues.acquire(hs, stateKey{route: id}, func() (*waitQueue, error) { return new(waitQueue), nil })
	if err != nil {
		return nil, err
	}
	c := &routeCaps{queue: q, timeout: config.DefaultQueueTimeout}
	if lb := s.LoadBalancer; lb != nil && lb.Queue != nil {
		c.size, c.timeout = int64(lb.Queue.SizeOrDefault()), lb.Queue.TimeoutOrDefault()
	}
	c.retryAfter = strconv.FormatInt(max(1, int64(math.Ceil(c.timeout.Seconds()))), 10)
	if c.size == 0 {
		c.retryAfter = "1"
	}
	return c, nil
}

// attach gives m of route id the in-flight cap n (none when n is 0), its
// count held in hs. nil-safe: a route without caps attaches nothing.
func (c *routeCaps) attach(hs *holds, id string, m *member, n int) error {
	if c == nil || n <= 0 {
		return nil
	}
	cnt, err := slotCounts.acquire(hs, stateKey{route: id, backend: m.b.Name}, func() (*slotCount, error) { return new(slotCount), nil })
	if err != nil {
		return err
	}
	m.gate = &capGate{max: int64(n), count: cnt, queue: c.queue}
	return nil
}

// refuse answers 503 with Retry-After, as a caddyhttp.Error.
func (c *routeCaps) refuse(w http.ResponseWriter, err error) error {
	w.Header()["Retry-After"] = []string{c.retryAfter} // its own slice: header replace rewrites in place
	return caddyhttp.Error(http.StatusServiceUnavailable, err)
}

// await is what a request does when pick found no backend: if that is
// because the eligible backends are at their caps, it waits in the queue
// for a slot (first come, first served) and returns the backend it got,
// its slot taken. (nil, nil) means no backend is at its cap, so there is
// none to wait for: the request gets the ordinary no-backend answer.
func (c *routeCaps) await(w http.ResponseWriter, r *http.Request, p *pool, tried []*backend.Backend) (*backend.Backend, error) {
	if !p.anyAtCap(tried) {
		return nil, nil
	}
	q := c.queue
	if c.size == 0 {
		q.rejected.Add(1)
		return nil, c.refuse(w, errAtCap)
	}
	wt := newWaiter()
	if !q.join(wt, c.size, false) {
		q.rejected.Add(1)
		return nil, c.refuse(w, errQueueFull)
	}
	q.queued.Add(1)
	begin := time.Now()
	got := func(b *backend.Backend) (*backend.Backend, error) {
		q.waitNanos.Add(uint64(time.Since(begin)))
		return b, nil
	}
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	for {
		// In the queue before looking: a slot freed before the join is
		// found here, one freed after it is handed over.
		if b := p.pick(r, tried); b != nil {
			q.leave(wt)
			return got(b)
		}
		select {
		case g := <-wt.ch:
			if b := p.claim(g, tried); b != nil {
				return got(b)
			}
			// A slot this request may not use (a backend it tried, one
			// this config does not have or counts over its cap): the
			// next waiter's. It keeps its place at the head.
			g.give()
			if !p.anyAtCap(tried) {
				return nil, nil
			}
			q.join(wt, 0, true)
		case <-timer.C:
			q.leave(wt)
			q.timedOut.Add(1)
			return nil, c.refuse(w, errQueueTimeout)
		case <-r.Context().Done():
			q.leave(wt)
			q.canceled.Add(1)
			return nil, caddyhttp.Error(statusClientClosed, r.Context().Err())
		}
	}
}

// take takes b's slot when b has a cap; true when b may be sent to.
func (p *pool) take(b *backend.Backend) bool {
	g := p.member(b).gate
	return g == nil || g.take()
}

// anyAtCap reports whether a backend that may take r (available, not
// tried) has a cap, so that waiting for a slot makes sense.
func (p *pool) anyAtCap(tried []*backend.Backend) bool {
	for _, b := range p.snap.Load().available {
		if b.Weight() > 0 && p.member(b).gate != nil && !contains(tried, b) {
			return true
		}
	}
	return false
}

// claim returns the backend of this pool whose slot g hands over, when the
// request may use it: available, not tried, and within this config's cap
// (the count includes the slot). nil: not usable here; g is still taken.
func (p *pool) claim(g *capGate, tried []*backend.Backend) *backend.Backend {
	for _, b := range p.snap.Load().available {
		mg := p.member(b).gate
		if mg != nil && mg.count == g.count && b.Weight() > 0 && !contains(tried, b) && mg.inFlight() <= mg.max {
			return b
		}
	}
	return nil
}

// status is the queue's figures for the status API; nil without caps.
func (c *routeCaps) status() *QueueStatus {
	if c == nil {
		return nil
	}
	q := c.queue
	return &QueueStatus{
		Length: q.waiting.Load(), Size: c.size, TimeoutMS: ms(c.timeout),
		Queued: q.queued.Load(), TimedOut: q.timedOut.Load(), Canceled: q.canceled.Load(), Rejected: q.rejected.Load(),
		WaitMS: ms(time.Duration(q.waitNanos.Load())),
	}
}
