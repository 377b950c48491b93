package smartproxy

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// Per-backend in-flight caps (backends[].max_requests) and the route's
// queue of requests that wait for a slot (load_balancer.queue).
//
// A backend's count of requests in flight is shared state, held by route
// and backend like its health record (pools.go), so during a reload the
// old config's requests and the new one's are counted together and the
// backend never sees more than its cap. Taking a slot is one CAS below the
// cap; a pick skips a backend whose CAS fails, so the strategies stay as
// they are.
//
// A request that finds every eligible backend at its cap joins the route's
// queue (shared across reloads too). A finishing request hands its slot
// straight to the request at the head of the queue instead of freeing it,
// so newcomers cannot overtake the queue: the slot never becomes free
// while someone waits for it. The queue is a mutex-guarded list, taken
// only by requests that wait and by releases that find a waiter; a release
// that finds the queue empty (one atomic load) costs nothing more.

// slotCount is one backend's requests in flight in one route, counted by
// every config that has the backend.
type slotCount struct{ n atomic.Int64 }

// slotCounts and waitQueues keep counts and queues across reloads.
var (
	slotCounts = newShared[*slotCount]("slots", nil)
	waitQueues = newShared[*waitQueue]("queue", nil)
)

// capGate is one backend's cap in one config. It must not be copied.
type capGate struct {
	max   int64
	count *slotCount
	queue *waitQueue // the route's queue, whose waiters a release serves
}

// take takes a slot if the backend is below its cap.
func (g *capGate) take() bool {
	for {
		n := g.count.n.Load()
		if n >= g.max {
			return false
		}
		if g.count.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// give returns a slot: to the head of the queue when someone waits, else
// to the backend. nil-safe, for backends without a cap.
func (g *capGate) give() {
	if g == nil {
		return
	}
	q := g.queue
	for {
		g.count.n.Add(-1)
		// A waiter joins the queue before it looks for a free slot, and
		// this looks for waiters after freeing one: one of the two sees
		// the other, so no waiter sleeps beside a free slot.
		if q.waiting.Load() == 0 || !g.take() {
			return
		}
		if q.handoff(g) {
			return
		}
	}
}

// inFlight is the backend's count in this route, every config included.
func (g *capGate) inFlight() int64 { return g.count.n.Load() }

// waitQueue is a route's FIFO of requests waiting for a slot, shared by the
// configs of a reload. Its counters feed the status API and metrics.
type waitQueue struct {
	waiting atomic.Int64 // waiters in the list, read without the lock

	mu sync.Mutex
	l  list.List // of *waiter, the head first

	queued, timedOut, rejected, canceled atomic.Uint64
	waitNanos                            atomic.Uint64 // total time waited by requests that got a slot
}

// waiter is one queued request. A gate handed to it arrives on ch.
type waiter struct {
	ch chan *capGate // buffered: handoff never blocks
	el *list.Element // in the queue's list; nil when not (guarded by its mu)
}

func newWaiter() *waiter { return &waiter{ch: make(chan *capGate, 1)} }

// join appends w, or puts it first (a waiter that was handed a slot it
// could not use keeps its turn); false when limit requests already wait.
func (q *waitQueue) join(w *waiter, limit int64, first bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case first:
		w.el = q.l.PushFront(w)
	case q.waiting.Load() >= limit:
		return false
	default:
		w.el = q.l.PushBack(w)
	}
	q.waiting.Add(1)
	return true
}

// unlinkLocked takes w out of the list; q.mu is held.
func (q *waitQueue) unlinkLocked(w *waiter) {
	q.l.Remove(w.el)
	w.el = nil
	q.waiting.Add(-1)
}

// handoff gives g's slot to the head of the queue; false when nobody
// waits.
func (q *waitQueue) handoff(g *capGate) bool {
	q.mu.Lock()
	var w *waiter
	if e := q.l.Front(); e != nil {
		w = e.Value.(*waiter)
		q.unlinkLocked(w)
	}
	q.mu.Unlock()
	if w == nil {
		return false
	}
	w.ch <- g
	return true
}

// leave takes w out of the queue (its wait ended: timeout, client gone, or
// a free slot found). A slot handed to it meanwhile is passed on.
func (q *waitQueue) leave(w *waiter) {
	q.mu.Lock()
	in := w.el != nil
	if in {
		q.unlinkLocked(w)
	}
	q.mu.Unlock()
	if !in {
		(<-w.ch).give() // handed a slot as it left: the next one's
	}
}
