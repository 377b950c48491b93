package health

import (
	"context"
	"errors"
	"fmt"
)

// ErrStopped is returned by Add once the Checker has stopped.
var ErrStopped = errors.New("health checker stopped")

// newTarget checks t (named) and prepares what the built-in check needs;
// t gets a Record of the initial state when it brings none.
func (c *Checker) newTarget(t Target) (*target, error) {
	tt := &target{Target: t}
	if c.builtin {
		u, client, err := c.probeTarget(t)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrInvalidTarget, t.Name, err)
		}
		tt.probeURL, tt.client = u, client
	}
	if tt.Record == nil {
		tt.Record = NewRecord(c.set.InitialState)
	}
	return tt, nil
}

// insertLocked adds t, unless its name or its Record is taken. c.tmu is
// held (or c is not shared yet).
func (c *Checker) insertLocked(t *target) error {
	if _, dup := c.byName[t.Name]; dup {
		return fmt.Errorf("%w %q: name used twice", ErrInvalidTarget, t.Name)
	}
	for _, o := range c.targets {
		if o.Record == t.Record {
			return fmt.Errorf("%w %q: shares its Record with %q", ErrInvalidTarget, t.Name, o.Name)
		}
	}
	c.byName[t.Name] = t
	c.targets = append(c.targets, t)
	return nil
}

// runLocked attaches t's Record to c and, with active checks on, starts
// its check loop under c.runCtx. c.tmu is held.
func (c *Checker) runLocked(t *target) {
	t.Record.attach(c, t.Name, c.pol)
	if c.check == nil { // active checks off
		return
	}
	ctx, stop := context.WithCancel(c.runCtx)
	t.stop, t.done = stop, make(chan struct{})
	c.wg.Add(1)
	go c.run(ctx, t)
}

// Add checks one more target from now on, as New's targets are: its Record
// (or a new one in the initial state) is attached, and when c runs, its
// checks start after the usual first delay. A backend that appears is so
// checked before use when the initial state is unhealthy. Errors wrap
// ErrInvalidTarget (a bad URL, a name or Record already in use) or are
// ErrStopped.
func (c *Checker) Add(t Target) error {
	if t.Name == "" {
		return fmt.Errorf("%w: target has no name", ErrInvalidTarget)
	}
	tt, err := c.newTarget(t)
	if err != nil {
		return err
	}
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.runCtx != nil && c.runCtx.Err() != nil {
		return ErrStopped
	}
	if err := c.insertLocked(tt); err != nil {
		return err
	}
	if c.runCtx != nil {
		c.runLocked(tt)
	}
	return nil
}

// Remove stops checking the named target: its check loop has returned and
// its Record is detached from c (keeping its state, for a Checker that may
// take it later) when Remove returns. It reports whether c had the target.
func (c *Checker) Remove(name string) bool {
	c.tmu.Lock()
	t, ok := c.byName[name]
	if ok {
		delete(c.byName, name)
		for i, o := range c.targets {
			if o == t {
				c.targets = append(c.targets[:i:i], c.targets[i+1:]...)
				break
			}
		}
	}
	stop, done := t.stopper()
	c.tmu.Unlock()
	if !ok {
		return false
	}
	if stop != nil {
		stop()
		<-done
	}
	t.Record.detach(c)
	return true
}

func (t *target) stopper() (context.CancelFunc, chan struct{}) {
	if t == nil {
		return nil, nil
	}
	return t.stop, t.done
}

// Names returns the names of c's targets, in the order they were added.
func (c *Checker) Names() []string {
	c.tmu.RLock()
	defer c.tmu.RUnlock()
	out := make([]string, len(c.targets))
	for i, t := range c.targets {
		out[i] = t.Name
	}
	return out
}

// lookup returns the named target, or nil.
func (c *Checker) lookup(name string) *target {
	c.tmu.RLock()
	defer c.tmu.RUnlock()
	return c.byName[name]
}

// State returns the state of the named target; Unhealthy if there is no
// such target, so a caller that asks by a stale name sends it no traffic.
func (c *Checker) State(name string) State {
	if t := c.lookup(name); t != nil {
		return t.Record.State()
	}
	return Unhealthy
}

// Status returns a snapshot of the named target's health, and false if c
// has no such target.
func (c *Checker) Status(name string) (Status, bool) {
	if t := c.lookup(name); t != nil {
		return t.Record.Status(), true
	}
	return Status{}, false
}

// Record returns the named target's Record (nil if none): the proxy reports
// passive outcomes to it and keeps it for the next config.
func (c *Checker) Record(name string) *Record {
	if t := c.lookup(name); t != nil {
		return t.Record
	}
	return nil
}
