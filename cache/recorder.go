package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// recorder modes.
const (
	modeHeader      = iota // nothing decided yet: headers accumulate in rec.h
	modePass               // streaming to the client (and maybe teeing)
	modeNotModified        // a 304 to our revalidation: swallowed, refresh later
	modeFailed             // a 5xx with a usable stale entry: swallowed, serve stale
)

// recorder is the ResponseWriter a forwarded cacheable request's fetch
// writes to. It decides at WriteHeader whether to pass the response to the
// client or swallow it (a 304 answering the cache's own revalidation, or a
// 5xx replaced by a stale response), and while passing it tees the body
// into a buffer capped at MaxEntryBytes less the stored header's size.
// Past the cap the buffer is dropped
// and the rest only streams, so a large response is never held whole.
type recorder struct {
	c     *Cache
	w     http.ResponseWriter
	r     *http.Request // the client's request: Vary and Authorization come from it
	key   string
	stale *entry
	fwd   string // Cache-Status fwd value

	storeAllowed bool
	revalidating bool

	h           http.Header // backend header until the decision
	mode        int
	code        int
	requestTime time.Time
	respTime    time.Time

	// storage candidate, valid while buffering
	header      http.Header
	upstreamAge time.Duration
	vary        []string
	buf         []byte
	buffering   bool
	bodyLimit   int   // MaxEntryBytes less what the stored header takes
	expectLen   int64 // Content-Length, or -1
	peak        int   // largest len(buf) ever held, for tests

	stored *entry

	headFresh http.Header // a HEAD's 200 that may freshen stale (headrefresh.go)

	// coalescing: fl is the flight this request leads (nil when none);
	// while relay is set the body goes to the client through it, and
	// relayed says it ever was (trailers then sit in h).
	fl        *flight
	secondary string
	relay     *relay
	relayed   bool

	// tierLocked: this request holds the key's fill lock in the shared
	// tier; shared: share ran (tier.go).
	tierLocked, shared bool
}

// Header returns the backend's header map until the response is decided,
// then the client's, so trailers set after the body reach the client. A
// relayed response keeps the backend's map (the relay goroutine owns the
// client's writer), and its trailers are moved over once the relay is done.
func (rec *recorder) Header() http.Header {
	if rec.mode == modePass && !rec.relayed {
		return rec.w.Header()
	}
	if rec.h == nil {
		rec.h = make(http.Header)
	}
	return rec.h
}

// WriteHeader decides what happens to the response (see recorder).
func (rec *recorder) WriteHeader(code int) {
	if rec.mode != modeHeader {
		return
	}
	c := rec.c
	h := rec.Header()
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		rec.interim(code, h)
		return
	}
	rec.code = code
	rec.respTime = c.s.Now()
	if rec.revalidating && code == http.StatusNotModified {
		rec.mode = modeNotModified
		rec.decide(true, rec.stale.varyNames, rec.stale.secondary) // the refreshed entry, if stored
		return
	}
	if rec.stale != nil && isServerError(code) && c.staleUsable(rec.stale, rec.respTime) {
		rec.mode = modeFailed
		rec.decide(false, nil, "")
		return
	}
	reason := ""
	if rec.storeAllowed {
		reason = rec.consider(code, h)
	}
	shared := rec.storeAllowed && reason == ""
	if shared && len(rec.vary) > 0 {
		rec.secondary = string(appendSecondaryKey(nil, rec.r, rec.vary))
	}
	rec.decide(shared, rec.vary, rec.secondary)
	wh := rec.w.Header()
	for k, v := range h {
		if !containsString(c.hidden, k) {
			wh[k] = v
		}
	}
	up := h["Cache-Status"]
	wh["Cache-Status"] = append(up[:len(up):len(up)], c.cacheStatus(rec.fwd, 0, rec.storeAllowed && reason == "", reason))
	if rec.r.Method == http.MethodHead && code == http.StatusOK && rec.stale != nil {
		rec.headFresh = h
	}
	rec.mode = modePass
	rec.w.WriteHeader(code)
	if shared && rec.fl != nil {
		rec.relay, rec.relayed = startRelay(rec.w), true
	}
}

// interim forwards a 1xx response to the client with the header fields
// set for it, then drops them from both maps: an interim response's fields
// (a 103's Link) are its own, so they reach neither the final response nor
// the stored one. net/http's server would keep them for the final
// response; a cache must not store early hints as the response's headers.
// A client's fields of the same name set before are put back.
func (rec *recorder) interim(code int, h http.Header) {
	sendInterim(rec.w, h, code)
	clear(h)
}

// decide tells the waiters of the flight rec leads, if any, what the
// response headers say: whether the response can answer them, and for
// which variant.
func (rec *recorder) decide(shared bool, vary []string, secondary string) {
	if rec.fl != nil {
		rec.c.flights.decide(rec.fl, shared, vary, secondary)
	}
}

// consider decides whether the response may be stored and, if so, takes
// the header snapshot and starts teeing. It returns the reason it may not.
func (rec *recorder) consider(code int, h http.Header) string {
	c := rec.c
	d := c.responseDirectives(h)
	date := parseDate(h, "Date")
	if date.IsZero() {
		date = rec.respTime
	}
	if reason := c.storable(rec.r, code, h, d, c.freshnessLifetime(code, h, d, date)); reason != "" {
		return reason
	}
	rec.expectLen = -1
	if v := h["Content-Length"]; len(v) == 1 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			rec.expectLen = n
		}
	}
	rec.header = storedHeader(h)
	// MaxEntryBytes bounds what an entry holds, headers included: 5 MB of
	// headers on a small body are as large as a 5 MB body.
	room := c.s.MaxEntryBytes - headerBytes(rec.header)
	if room < 0 || rec.expectLen > room {
		rec.header = nil
		return reasonTooLarge
	}
	rec.bodyLimit = int(room)
	rec.upstreamAge = parseAge(h)
	rec.vary = varyNames(h)
	rec.buffering = true
	if rec.expectLen > 0 {
		rec.buf = make([]byte, 0, rec.expectLen)
	}
	return ""
}

// Write streams p to the client (or drops it when the response is
// swallowed) and tees it while the buffer is under the cap.
func (rec *recorder) Write(p []byte) (int, error) {
	if rec.mode == modeHeader {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.mode != modePass {
		return len(p), nil
	}
	if rec.relay != nil {
		if len(rec.buf)+len(p) <= rec.bodyLimit {
			rec.tee(p)
			rec.relay.publish(rec.buf, false)
			return len(p), nil // the client's pace is the relay's business
		}
		if err := rec.unshare(); err != nil {
			return 0, err
		}
	}
	n, err := rec.w.Write(p)
	if rec.buffering {
		rec.tee(p[:n])
	}
	return n, err
}

func (rec *recorder) tee(p []byte) {
	limit := rec.bodyLimit
	if len(rec.buf)+len(p) > limit {
		rec.buf, rec.buffering = nil, false // too large: stream only
		return
	}
	if need := len(rec.buf) + len(p); need > cap(rec.buf) {
		grown := make([]byte, len(rec.buf), min(max(2*cap(rec.buf), need, 512), limit))
		copy(grown, rec.buf)
		rec.buf = grown
	}
	rec.buf = append(rec.buf, p...)
	rec.peak = max(rec.peak, len(rec.buf))
}

// Flush sends what was written so far to the client (http.Flusher), so
// streaming responses such as server-sent events keep working.
func (rec *recorder) Flush() {
	if rec.mode == modeHeader {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.mode != modePass {
		return
	}
	if rec.relay != nil {
		rec.relay.publish(rec.buf, true)
		return
	}
	if f, ok := rec.w.(http.Flusher); ok {
		f.Flush()
		return
	}
	_ = http.NewResponseController(rec.w).Flush()
}

// unshare turns a relayed fill that outgrew MaxEntryBytes into a plain
// stream: the waiters are released (they fetch on their own), the relay
// writes out what it holds and exits, and from then on the fetch writes to
// the client itself, at the client's pace, holding nothing. It returns the
// client's write error, if the relay met one.
func (rec *recorder) unshare() error {
	rec.c.flights.finish(rec.fl, nil)
	err := rec.relay.drain()
	rec.relay, rec.buf, rec.buffering = nil, nil, false
	return err
}

// Unwrap lets http.ResponseController reach the client's writer (for
// deadlines, hijacking and full-duplex). While a relay writes the body,
// only deadlines may be set through it.
func (rec *recorder) Unwrap() http.ResponseWriter {
	return rec.w
}

// finish completes a forward once fetch returned err: it refreshes and
// serves on a 304, serves stale on failure when allowed, and stores a
// complete teed response.
func (rec *recorder) finish(err error, status Status) (Status, error) {
	c := rec.c
	switch rec.mode {
	case modeHeader:
		if err != nil {
			if rec.stale != nil && c.staleUsable(rec.stale, c.s.Now()) {
				return rec.serveStale(0)
			}
			return StatusNone, err
		}
		rec.WriteHeader(http.StatusOK) // fetch wrote nothing: an empty 200
	case modeNotModified:
		e, h := c.refreshed(rec.stale, rec.h, rec.requestTime, rec.respTime)
		c.stats.revalidated.Add(1)
		// The refreshed response is stored only if it may be: a 304 can
		// bring no-store, private or a Set-Cookie meant for this client
		// alone (stored, it would go to every later client). This client
		// gets it either way; the stale entry stays for the next one to
		// revalidate.
		d := c.responseDirectives(h)
		reason := c.storable(rec.r, e.status, h, d, c.freshnessLifetime(e.status, h, d, e.responseTime))
		if headerBytes(h)+int64(len(e.body)) > c.s.MaxEntryBytes {
			reason = reasonTooLarge // the 304 brought headers enough to burst it
		}
		if reason == "" || reason == reasonNotFresh {
			c.store.add(e)
			c.stats.stores.Add(1)
			c.flights.stored(e.key)
			rec.stored = e
		}
		rec.release()
		rec.share()
		cs := []string{c.cacheStatus("stale", http.StatusNotModified, rec.stored != nil, "")}
		c.writeEntry(rec.w, rec.r, e, e.currentAge(c.s.Now()), cs)
		return StatusRevalidated, nil
	case modeFailed:
		return rec.serveStale(rec.code)
	}
	if err == nil && rec.headFresh != nil {
		c.refreshFromHead(rec.r, rec.stale, rec.headFresh, rec.requestTime, rec.respTime)
	}
	rec.storeFill(err)
	rec.release() // the waiters have what they need; the leader's client may be slow
	rec.share()   // and so do other instances'
	if rec.relay != nil {
		// A write error means the client went away: there is no one left
		// to tell, and the fill was stored for the others all the same.
		_ = rec.relay.drain()
		rec.relay = nil
	}
	if rec.relayed {
		// Trailers the fetch set after the body sit in rec.h.
		wh := rec.w.Header()
		for k, v := range rec.h {
			if strings.HasPrefix(k, http.TrailerPrefix) {
				wh[k] = v
			}
		}
	}
	return status, err
}

// storeFill stores the teed response if it arrived whole: fetch returned
// no error, the body fit, matched its Content-Length, and no trailers came.
func (rec *recorder) storeFill(err error) {
	if err != nil || !rec.buffering {
		return
	}
	if rec.expectLen >= 0 && int64(len(rec.buf)) != rec.expectLen {
		return // cut short
	}
	trailers := rec.w.Header()
	if rec.relayed {
		trailers = rec.h
	}
	for k := range trailers {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return
		}
	}
	c := rec.c
	e := c.newEntry(rec.key, rec.secondary, rec.vary, rec.code, rec.header, rec.buf,
		rec.upstreamAge, rec.requestTime, rec.respTime)
	c.store.add(e)
	c.stats.stores.Add(1)
	c.flights.stored(e.key)
	rec.stored = e
}

// release ends the flight rec leads, if any, handing its waiters what was
// stored. Safe to call more than once.
func (rec *recorder) release() {
	if rec.fl != nil {
		rec.c.flights.finish(rec.fl, rec.stored)
	}
}

// abandon runs when Serve returns, even by panic: it releases the waiters
// and stops a relay still running, so nothing writes to the client after.
func (rec *recorder) abandon() {
	rec.release()
	rec.share() // a fill lock taken is let go whatever happened
	if rec.relay != nil {
		rec.relay.stop()
		rec.relay = nil
	}
}

// serveStale answers with the stale entry after a failed fetch; fwdStatus
// is the backend's 5xx, or 0 when there was no response at all.
func (rec *recorder) serveStale(fwdStatus int) (Status, error) {
	c := rec.c
	c.stats.stale.Add(1)
	cs := []string{c.cacheStatus("stale", fwdStatus, false, "stale-if-error")}
	c.writeEntry(rec.w, rec.r, rec.stale, rec.stale.currentAge(c.s.Now()), cs)
	return StatusStale, nil
}

// staleUsable reports whether e may be served in place of a failed fetch
// at now: within StaleIfError past its freshness, and not marked
// must-revalidate, proxy-revalidate, s-maxage or no-cache.
func (c *Cache) staleUsable(e *entry, now time.Time) bool {
	if c.s.StaleIfError <= 0 || e.noStale || e.noCache {
		return false
	}
	return e.currentAge(now)-e.lifetime <= c.s.StaleIfError
}

func isServerError(code int) bool {
	switch code {
	case http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Interface guards
var (
	_ http.ResponseWriter = (*recorder)(nil)
	_ http.Flusher        = (*recorder)(nil)
)
