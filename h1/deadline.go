package h1

import "time"

// abort wakes the exchange's blocked read or write: the request's context
// ended.
func (c *conn) abort() {
	c.aborted.Store(true) // before the deadline: see Read
	c.nc.SetDeadline(aLongTimeAgo)
}

// armDeadline makes sure that the connection's read deadline bounds the
// wait for response headers starting now, the request just written, by
// ResponseHeaderTimeout, give or take 1/16 of it: it falls in
// [now+timeout, now+timeout+timeout/16]. Only a deadline outside that
// window is moved, so a busy connection sets one every timeout/16 rather
// than one per request (setting a deadline arms a runtime timer, and on a
// lightly loaded proxy each new earliest timer wakes a thread: measured
// 15 µs of median latency at one client connection). A deadline left
// from an earlier exchange bounds no write: it is a read deadline.
func (c *conn) armDeadline() {
	d := c.t.cfg.ResponseHeaderTimeout
	if d <= 0 {
		if !c.deadline.IsZero() {
			c.setReadDeadline(time.Time{}) // awaitContinue's
		}
		return
	}
	earliest := time.Now().Add(d)
	latest := earliest.Add(d / 16)
	if c.deadline.Before(earliest) || c.deadline.After(latest) {
		c.setReadDeadline(latest)
	}
}

// setReadDeadline sets the read deadline and records it. Should abort
// have run meanwhile, its deadline, just overwritten, is set again: abort
// marks itself before it sets its deadline, so one of the two sees the
// other.
func (c *conn) setReadDeadline(t time.Time) {
	if t.Equal(c.deadline) {
		return
	}
	c.deadline = t
	c.nc.SetReadDeadline(t)
	if c.aborted.Load() {
		c.nc.SetDeadline(aLongTimeAgo)
	}
}
