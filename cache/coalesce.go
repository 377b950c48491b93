package cache

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// flight is one in-progress fetch that concurrent misses for the same
// primary key wait on, in two steps: decided closes when the leader's
// response headers are in, and done when its body fill has ended. Fields
// are written under flights.mu before the channel they belong to closes,
// and read only after it has.
type flight struct {
	key     string
	decided chan struct{}
	done    chan struct{}

	// Set before decided closes: whether the response may answer the
	// waiters at all, and which variant it is.
	shared    bool
	vary      []string
	secondary string
	finished  bool // done is closed

	// Set before done closes: the stored entry (nil when nothing was).
	result *entry
}

// flights tracks the fetches in progress, by primary key, and the keys
// whose misses are not worth coalescing for now (see passMemory).
type flights struct {
	mu   sync.Mutex
	m    map[string]*flight
	pass passList
	now  func() time.Time
}

func newFlights(now func() time.Time) flights {
	return flights{m: make(map[string]*flight), pass: newPassList(), now: now}
}

// join returns the flight for key and whether the caller leads it (and so
// must finish it). It returns no flight when key's last response could
// not be shared: the caller fetches on its own.
func (f *flights) join(key []byte) (fl *flight, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pass.skip(key, f.now()) {
		return nil, false
	}
	if fl := f.m[string(key)]; fl != nil {
		return fl, false
	}
	fl = &flight{key: string(key), decided: make(chan struct{}), done: make(chan struct{})}
	f.m[fl.key] = fl
	return fl, true
}

// decide publishes what the leader's response headers say and releases
// the waiters that cannot use it. Only the first call counts. A response
// that cannot be shared also stops coalescing on its key for a while.
func (f *flights) decide(fl *flight, shared bool, vary []string, secondary string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !shared {
		f.pass.mark(fl.key, f.now())
	}
	f.decideLocked(fl, shared, vary, secondary)
}

// stored tells that a response for key was stored: its misses are worth
// coalescing again.
func (f *flights) stored(key string) {
	f.mu.Lock()
	f.pass.forget(key)
	f.mu.Unlock()
}

func (f *flights) decideLocked(fl *flight, shared bool, vary []string, secondary string) {
	select {
	case <-fl.decided:
		return
	default:
	}
	fl.shared, fl.vary, fl.secondary = shared, vary, secondary
	close(fl.decided)
}

// finish publishes the leader's stored entry (nil when nothing was
// stored), releases every waiter and lets the next miss lead a new
// flight. It may be called more than once; only the first call counts.
func (f *flights) finish(fl *flight, result *entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl.finished {
		return
	}
	fl.finished = true
	if f.m[fl.key] == fl {
		delete(f.m, fl.key)
	}
	f.decideLocked(fl, false, nil, "") // if the leader never got headers
	fl.result = result
	close(fl.done)
}

// waitOn blocks until ch closes (true), t fires (false), or ctx ends
// (its error).
func waitOn(ctx context.Context, t *time.Timer, ch <-chan struct{}) (bool, error) {
	select {
	case <-ch:
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// coalesce makes r wait for the fetch another request is making for key,
// if any. It returns served when it answered r from that fetch's result;
// otherwise, leader says whether r now leads a flight (fl), which the
// caller must finish.
//
// A waiter is released to fetch on its own the moment the leader's
// headers show that the response cannot answer it: not storable (private,
// no-store, too large, ...), a revalidation that failed, or another Vary
// variant than the waiter's. Otherwise it waits for the fill, which does
// not depend on how fast the leader's client reads (see relay). It never
// waits longer than CoalesceTimeout in all, nor past its context.
func (c *Cache) coalesce(w http.ResponseWriter, r *http.Request, key []byte) (fl *flight, leader, served bool, err error) {
	fl, leader = c.flights.join(key)
	if fl == nil || leader {
		return fl, leader, false, nil
	}
	c.stats.coalesced.Add(1)
	t := time.NewTimer(c.s.CoalesceTimeout)
	defer t.Stop()
	if ok, err := waitOn(r.Context(), t, fl.decided); !ok {
		return nil, false, false, err // timed out (nil) or gone
	}
	if !fl.shared {
		return nil, false, false, nil
	}
	if len(fl.vary) > 0 {
		var buf [keyBufSize]byte
		if string(appendSecondaryKey(buf[:0], r, fl.vary)) != fl.secondary {
			return nil, false, false, nil
		}
	}
	if ok, err := waitOn(r.Context(), t, fl.done); !ok {
		return nil, false, false, err
	}
	// A response stored by the leader answers every waiter it matches,
	// even one to be revalidated each time (no-cache): it was just
	// validated for this very wait.
	if e := fl.result; e != nil && e.matches(r) {
		c.writeEntry(w, r, e, e.currentAge(c.s.Now()), c.csCoalesced)
		return nil, false, true, nil
	}
	return nil, false, false, nil // not stored after all: fetch alone
}
