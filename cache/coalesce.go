package cache

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// flight is one in-progress fetch that concurrent misses for the same key
// wait on. result is written before done is closed and read only after.
type flight struct {
	key    string
	done   chan struct{}
	result *entry
}

// flights tracks the fetches in progress, by primary key.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// join returns the flight for key and whether the caller leads it (and so
// must call finish).
func (f *flights) join(key []byte) (fl *flight, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.m[string(key)]; fl != nil {
		return fl, false
	}
	fl = &flight{key: string(key), done: make(chan struct{})}
	f.m[fl.key] = fl
	return fl, true
}

// finish publishes the leader's stored entry (nil when nothing was
// stored) and releases the waiters.
func (f *flights) finish(fl *flight, result *entry) {
	f.mu.Lock()
	if f.m[fl.key] == fl {
		delete(f.m, fl.key)
	}
	f.mu.Unlock()
	fl.result = result
	close(fl.done)
}

// wait blocks until fl finishes (true), CoalesceTimeout passes (false), or
// ctx ends (its error).
func (c *Cache) wait(ctx context.Context, fl *flight) (bool, error) {
	t := time.NewTimer(c.s.CoalesceTimeout)
	defer t.Stop()
	select {
	case <-fl.done:
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
func (c *Cache) coalesce(w http.ResponseWriter, r *http.Request, key []byte) (fl *flight, leader, served bool, err error) {
	fl, leader = c.flights.join(key)
	if leader {
		return fl, true, false, nil
	}
	c.stats.coalesced.Add(1)
	done, err := c.wait(r.Context(), fl)
	if err != nil {
		return nil, false, false, err
	}
	// A response stored by the leader answers every waiter it matches,
	// even one to be revalidated each time (no-cache): it was just
	// validated for this very wait.
	if e := fl.result; done && e != nil && e.matches(r) {
		c.writeEntry(w, r, e, e.currentAge(c.s.Now()), c.csCoalesced)
		return nil, false, true, nil
	}
	return nil, false, false, nil // not cacheable, another variant, or timed out: fetch alone
}
