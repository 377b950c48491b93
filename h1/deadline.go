package h1

import (
	"context"
	"time"
)

// How an exchange learns that its request's context ended.
//
// A watcher (context.AfterFunc running abort) wakes the exchange at once,
// but registering one and stopping it cost ~1.7 µs and three allocations
// per exchange under Caddy's long chain of contexts (the watcher, the
// children map of the request's cancelCtx, its lazily made Done channel),
// 4 % of the proxy's CPU. Most exchanges end well before anyone could
// notice: an exchange of a bodiless request is therefore followed by its
// read deadline instead. armDeadline sets it no later than abortCheck
// (and a quarter) ahead; when it expires, expired looks at the context:
// ended, the exchange aborts; else a watcher is registered from then on
// and the header deadline takes over. A fast answer costs nothing; a
// client that leaves while the backend is slow is noticed within
// abortCheck to 1.25 × abortCheck (nginx notices at once, HAProxy by
// default not at all) and after that at once.
//
// A request with a body is watched from the start: its body is written
// under no deadline, at the client's pace, and only a watcher can wake
// that write. A 101 response ends the following (finish), and a spliced
// body is watched before its deadline is lifted (splice.go). No read
// deadline bounds a write: a bodiless head is written without waiting
// first, and what does not go out at once is written watched
// (conn.writeHead).

// defaultAbortCheck is how long an exchange no watcher follows waits on
// its backend before it looks at its context.
const defaultAbortCheck = 200 * time.Millisecond

// abort wakes the exchange's blocked read or write: the request's context
// ended, or its body was closed during a read.
func (c *conn) abort() {
	c.aborted.Store(true) // before the deadline: see setReadDeadline
	c.nc.SetDeadline(aLongTimeAgo)
}

// watch registers the watcher of the exchange's context, if none yet.
func (c *conn) watch() {
	ctx := c.ctx
	if ctx == nil {
		return
	}
	c.ctx = nil
	if c.done = ctx.Done(); c.done != nil {
		c.stop = context.AfterFunc(ctx, c.abortFn)
	}
}

// armDeadline makes sure that the connection's read deadline bounds the
// wait for response headers starting now, the request just written: it
// falls in [now+w, now+w+w/16] for w = ResponseHeaderTimeout (the header
// deadline, recorded exactly in headerBy) or, when no watcher follows the
// context and abortCheck is shorter, in [now+w, now+w+w/4] for w =
// abortCheck. Only a deadline outside that window is moved, so a busy
// connection sets one every w/16 or w/4 rather than one per request
// (setting a deadline arms a runtime timer, and on a lightly loaded proxy
// each new earliest timer wakes a thread: measured 15 µs of median
// latency at one client connection). A deadline left from an earlier
// exchange bounds no write: it is a read deadline.
func (c *conn) armDeadline() {
	c.guarded = true
	d := c.t.cfg.ResponseHeaderTimeout
	if d <= 0 && c.ctx == nil {
		c.headerBy = time.Time{}
		if !c.deadline.IsZero() {
			c.setReadDeadline(time.Time{}) // awaitContinue's, or a check's
		}
		return
	}
	now := time.Now()
	w, slack := d, d/16
	if d > 0 {
		c.headerBy = now.Add(d)
	} else {
		c.headerBy = time.Time{}
	}
	if c.ctx != nil && (d <= 0 || c.t.abortCheck < d) {
		w, slack = c.t.abortCheck, c.t.abortCheck/4
	}
	earliest := now.Add(w)
	latest := earliest.Add(slack)
	if c.deadline.Before(earliest) || c.deadline.After(latest) {
		c.setReadDeadline(latest)
	}
}

// expired handles a read's timeout under armDeadline's deadline (or
// awaitContinue's) and reports whether to read on. A timeout before that
// deadline is not its expiry but a bound of the connection's own (the
// proxy's per-read timeout wraps connections): final. No watcher yet:
// the context is looked at; ended, the exchange aborts, else a watcher
// follows it from now on. Then under a body the deadline is lifted
// (bodies may take as long as they like); awaiting headers, the header
// deadline takes over, or, passed, ends the read (conn.Read names it:
// headTimeout).
func (c *conn) expired() bool {
	now := time.Now()
	if now.Before(c.deadline) {
		return false
	}
	if c.continueWait {
		// awaitContinue's timer. At a head's start (nothing of one read
		// yet) it ends the wait: the body is sent. Inside a head the
		// backend is answering: the rest of that head is read under the
		// header timeout from now, so its bytes are neither parsed as
		// they stand (a partial last line reads as a whole one) nor lost.
		if c.nread == c.headFrom {
			return false
		}
		c.continueWait = false
		c.headerBy = time.Time{}
		if d := c.t.cfg.ResponseHeaderTimeout; d > 0 {
			c.headerBy = now.Add(d)
		}
		c.setReadDeadline(c.headerBy)
		return !c.aborted.Load()
	}
	if c.ctx != nil {
		if c.ctx.Err() != nil {
			c.abort()
			return false
		}
		c.watch()
	}
	switch {
	case c.inBody:
		c.setReadDeadline(time.Time{})
	case c.headerBy.IsZero() || time.Now().Before(c.headerBy):
		c.setReadDeadline(c.headerBy)
	default:
		return false
	}
	return !c.aborted.Load()
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
