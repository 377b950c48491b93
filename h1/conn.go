package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caddy-smartproxy/smartproxy/forward"
)

// bufSize is the read and write buffer of a connection: a typical request
// or response head fits in one.
const bufSize = 4 << 10

var (
	readerPool sync.Pool // *bufio.Reader
	writerPool sync.Pool // *bufio.Writer
)

// aLongTimeAgo is a deadline in the past: setting it wakes any blocked
// read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// conn is one backend connection and the state of the exchange it serves.
// It is used by one goroutine at a time (the one that took it from the
// pool); only abort, run by context.AfterFunc or a body's Close, touches
// it from another, and abort only sets a flag and a deadline.
type conn struct {
	t  *Transport
	hp *hostPool
	nc net.Conn
	br *bufio.Reader // reads through conn.Read, which counts bytes
	bw *bufio.Writer // writes through conn.Write, which records errors

	raw        syscall.RawConn    // for the quiet check and polling; nil if unavailable
	readableFn func(uintptr)      // c.readable, bound once so a check allocates nothing
	writeFn    func(uintptr) bool // c.tryWrite, bound likewise
	wp         []byte             // what tryWrite writes
	wn         int                // what it wrote of wp
	wErr       error              // its failure, if any (not EAGAIN)
	abortFn    func()             // c.abort, bound once for context.AfterFunc
	peekBuf    [1]byte
	ready      bool // set by readable

	idleSince time.Time
	reused    bool // served an exchange before this one
	// deadline is the read deadline set on nc, zero if none (no write
	// deadline is ever set but abort's). armDeadline sets it lazily, to
	// the context check or the header deadline (deadline.go), and it
	// stays armed while the body streams and while the connection idles;
	// awaitContinue sets its timer. conn.Read handles its expiry
	// (expired).
	deadline time.Time
	guarded  bool // the read deadline is armDeadline's or awaitContinue's: Read handles its expiry
	// continueWait: the read deadline is awaitContinue's timer, and
	// headFrom is where, in the bytes read (nread), the head awaited
	// begins: nread == headFrom while none of it is in.
	continueWait bool
	headFrom     int64
	inBody       bool        // the exchange's response headers are in; its body may be read
	aborted      atomic.Bool // abort ran: a deadline error is final
	upgraded     bool        // handed over as a raw stream (101)

	// Per exchange.
	nread    int64            // bytes read from nc
	limit    int64            // nread may not pass this while headers are read; 0: no limit
	werr     error            // first write error on nc
	herr     error            // a read error before the body (not a tunnel's): final, every later read of the head returns it
	ctx      context.Context  // the request's while no watcher follows it (deadline.go); else nil
	headerBy time.Time        // when the response headers are due; zero: no limit
	stop     func() bool      // stops the context watcher; nil if none
	done     <-chan struct{}  // the request context's Done, once watched; nil if it never ends
	early    *http.Response   // final answer that came instead of 100 Continue
	earlyErr error            // failure while awaiting 100 Continue
	scan     headScan         // framing fields of the last head read
	distrust bool             // a head of this exchange had names that are not tokens (parseHead)
	rb       requestBody      // the request body's wrapper, reused
	wreq     http.Request     // the request as written when it has a body
	lr       io.LimitedReader // the spliced rest of a body (splice.go), reused
	ih       InterimHandler   // told of 1xx responses (RoundTripInterim); nil: the context's trace
}

func (t *Transport) dialConn(ctx context.Context, hp *hostPool) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, t.cfg.DialTimeout)
	nc, err := t.dial(dctx, "tcp", hp.addr)
	cancel()
	if err != nil {
		return nil, DialError{Err: err}
	}
	c := &conn{t: t, hp: hp, nc: nc}
	c.abortFn = c.abort
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.readableFn = c.readable
			c.writeFn = c.tryWrite
		}
	}
	if v, ok := readerPool.Get().(*bufio.Reader); ok {
		v.Reset(c)
		c.br = v
	} else {
		c.br = bufio.NewReaderSize(c, bufSize)
	}
	if v, ok := writerPool.Get().(*bufio.Writer); ok {
		v.Reset(c)
		c.bw = v
	} else {
		c.bw = bufio.NewWriterSize(c, bufSize)
	}
	return c, nil
}

// Read reads from the network, counting bytes so that a failure can tell
// whether any of the response had arrived.
func (c *conn) Read(p []byte) (int, error) {
	if c.limit > 0 {
		if c.nread >= c.limit {
			return 0, ErrHeaderTooLarge
		}
		if rest := c.limit - c.nread; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	if c.herr != nil && !c.inBody && !c.upgraded {
		// The head's readers (the peek, the scan, http.ReadResponse)
		// each read again after a failure; the network is asked once, so
		// that a per-read timeout is waited once, not once per reader.
		return 0, c.herr
	}
	n, err := c.nc.Read(p)
	for err != nil && (c.guarded || c.inBody) && !c.deadline.IsZero() && !c.aborted.Load() &&
		errors.Is(err, os.ErrDeadlineExceeded) {
		// armDeadline's or awaitContinue's deadline expired. A read
		// that times out consumed nothing, so reading on loses nothing.
		if !c.expired() {
			break // final: n is 0
		}
		n, err = c.nc.Read(p)
	}
	c.nread += int64(n)
	if err != nil && !c.upgraded {
		timedOut := !c.aborted.Load() && errors.Is(err, os.ErrDeadlineExceeded)
		if c.inBody {
			if timedOut {
				// Under a body the transport's deadlines are lifted as they
				// expire (expired): one that ends a read is a per-read bound
				// of the connection's own.
				err = ErrBodyReadTimeout
			}
		} else {
			if timedOut {
				err = c.headTimeout()
			}
			c.herr = err
		}
	}
	return n, err
}

// headTimeout names the deadline that ended a read of a response head,
// the exchange not aborted (its context's end is named by wrapErr): the
// header deadline, passed, or else a deadline of the connection's own, a
// per-read bound. (A timer of awaitContinue's that ends its wait in
// silence is a timeout too, and not final: awaitContinue sends the body.)
// The socket holds one read deadline for the header timeout, the context
// check, the wait for 100 Continue and the connection's own bound, so
// which one fired is told by the clock, not by the error.
func (c *conn) headTimeout() error {
	if !c.headerBy.IsZero() && !time.Now().Before(c.headerBy) {
		return ErrResponseHeaderTimeout
	}
	return ErrReadTimeout
}

// Write writes to the network, remembering a failure so that it can be
// told from a failure to read the request body.
func (c *conn) Write(p []byte) (int, error) {
	if c.ctx != nil {
		return c.writeHead(p)
	}
	n, err := c.nc.Write(p)
	if err != nil && c.werr == nil {
		c.werr = err
	}
	return n, err
}

// writeHead writes p, of a bodiless request's head that no watcher
// follows yet (c.ctx is set). No read deadline bounds a write, and a
// write blocks once the socket's buffers are full: a backend that does not
// read (a hung process, whose kernel still accepts), or that answers
// without reading, would hold the exchange however long after its client
// left. So the head is first written without waiting, and what does not
// go out at once (rare: a head of a buffer or more, or a backend that
// left earlier heads unread) is written with the context watched.
func (c *conn) writeHead(p []byte) (int, error) {
	n := 0
	if len(p) < c.bw.Size() && c.writeFn != nil && canPeek {
		c.wp, c.wn, c.wErr = p, 0, nil
		err := c.raw.Write(c.writeFn)
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !c.aborted.Load() {
			// Failed without writing on an expired write deadline: not
			// an abort (none can come before the context is watched)
			// but the one the connection's wrapper (timeouts.write) set
			// for an earlier write. Lifted; that wrapper sets its own
			// again on the next write it makes.
			c.nc.SetWriteDeadline(time.Time{})
			err = c.raw.Write(c.writeFn)
		}
		n, werr := c.wn, c.wErr
		c.wp, c.wErr = nil, nil
		if err == nil && werr != nil {
			err = &net.OpError{Op: "write", Net: "tcp", Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError("write", werr)}
			if c.werr == nil {
				c.werr = err
			}
			return n, err
		}
		if n == len(p) {
			return n, nil
		}
	}
	c.watch()
	m, err := c.nc.Write(p[n:])
	if err != nil && c.werr == nil {
		c.werr = err
	}
	return n + m, err
}

// close closes the connection and recycles its buffers.
func (c *conn) close() {
	c.nc.Close()
	if c.upgraded {
		return // the stream may still be read; leave its buffer to the GC
	}
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
	c.br, c.bw = nil, nil
}

// release ends an exchange: the connection returns to the pool when reuse
// allows, the request's context did not abort it and not a byte past the
// response is buffered, else it is closed.
//
// The socket is not peeked at here: getConn peeks at every connection it
// takes from the pool, and a byte or a close that is readable now is still
// readable then, so a second peek here would only close such a
// connection sooner, for one system call on every exchange. The buffer
// check is free and catches what came with the response.
func (c *conn) release(reuse bool) {
	if c.stop != nil {
		if !c.stop() {
			reuse = false // abort ran or is running: the deadline is spoilt
		}
		c.stop = nil
	}
	c.done, c.ctx, c.guarded = nil, nil, false
	if reuse && c.t.cfg.MaxIdlePerHost > 0 && c.br.Buffered() == 0 {
		c.t.put(c)
	} else {
		c.close()
	}
}

// staleness classifies a failed exchange on a reused connection.
type staleness uint8

const (
	notStale   staleness = iota
	staleWrite           // the backend had closed before the request was written
	staleRead            // written, then EOF or reset before any response byte
)

// retryable reports whether a request may be sent again after s.
func (s staleness) retryable(replayable, idempotent bool) bool {
	switch s {
	case staleWrite:
		return replayable
	case staleRead:
		return replayable && idempotent
	}
	return false
}

// roundTrip runs one exchange on c. On error c is closed; on success c is
// owned by the response body (or back in the pool when there is none).
//
// The request is written under no deadline (the client paces its body;
// the request's context and the server's read timeouts bound it); the
// header deadline is armed once it is all written.
func (c *conn) roundTrip(req *http.Request, ih InterimHandler) (*http.Response, staleness, error) {
	c.ih = ih
	defer func() { c.ih = nil }()
	ctx := req.Context()
	c.nread, c.werr, c.herr, c.early, c.earlyErr = 0, nil, nil, nil, nil
	c.distrust = false
	c.headerBy = time.Time{} // not the last exchange's: armDeadline sets this one's
	c.limit = c.t.cfg.MaxResponseHeaderBytes
	c.inBody, c.guarded = false, false
	c.aborted.Store(false)
	c.ctx = ctx // followed by the read deadline (deadline.go) until watched
	if _, ok := ctx.Deadline(); ok {
		c.watch() // its end is due at an instant: abortCheck would overshoot it
	}
	var err error
	var rb *requestBody
	if req.Body != nil && req.Body != http.NoBody {
		// A body is written under no deadline, at the client's pace, so
		// a watcher must be able to wake that write.
		c.watch()
		// The body is read through a wrapper that keeps its error (net/http
		// hides it in an unexported type) and waits for 100 Continue.
		rb = &c.rb
		*rb = requestBody{c: c, req: req, rc: req.Body, expect: expectsContinue(req.Header)}
		c.wreq = *req
		c.wreq.Body = rb
		err = c.wreq.Write(c.bw)
		c.wreq = http.Request{}
	} else if !writeRequestHead(c.bw, req) {
		err = req.Write(c.bw)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	switch {
	case c.early != nil:
		// The backend answered without 100 Continue; the body was not
		// sent, so the connection cannot carry another request.
		return c.finish(req, c.early, false)
	case c.earlyErr != nil:
		c.fail()
		return nil, notStale, c.wrapErr(ctx, "awaiting 100 Continue", c.earlyErr)
	case rb != nil && rb.err != nil:
		// The client's body failed: the backend has part of a request.
		c.fail()
		return nil, notStale, &RequestBodyError{Err: rb.err}
	case err != nil && c.werr == nil:
		// Not the connection: the request could not be written.
		c.fail()
		return nil, notStale, fmt.Errorf("h1: writing request: %w", err)
	case err != nil:
		// The backend broke the connection while we wrote. It may have
		// answered first (a 413, say): return that answer if so.
		c.armDeadline()
		if resp, rerr := c.readResponse(req); rerr == nil {
			return c.finish(req, resp, false)
		}
		st := notStale
		if c.reused && c.nread == 0 && connGone(c.werr) {
			st = staleWrite
		}
		c.fail()
		return nil, st, c.wrapErr(ctx, "writing request", err)
	}
	if rb != nil {
		*rb = requestBody{}
	}
	c.armDeadline()
	resp, err := c.awaitResponse(req)
	if err != nil {
		st := notStale
		if c.reused && c.nread == 0 && connGone(err) {
			st = staleRead
		}
		c.fail()
		return nil, st, c.wrapErr(ctx, "reading response", err)
	}
	return c.finish(req, resp, true)
}

// awaitResponse reads the response to a request just written, polling
// for it first when the transport's spinner says so (see spin.go).
func (c *conn) awaitResponse(req *http.Request) (*http.Response, error) {
	sp := c.t.spin
	if sp == nil {
		return c.readResponse(req)
	}
	m := sp.waitStart(c.hp)
	if m == waitBusy {
		// Under load nothing is learnt from the wait: not timed, which
		// saves two clock reads (~0.1 µs each on the bench VM).
		resp, err := c.readResponse(req)
		sp.waitEnd(c.hp, m, 0)
		return resp, err
	}
	start := time.Now()
	if m == waitPoll {
		c.poll(sp.limit)
	}
	resp, err := c.readResponse(req)
	sp.waitEnd(c.hp, m, time.Since(start))
	return resp, err
}

// readResponse reads the final response to req, skipping interim (1xx)
// ones but 101; httptrace's Got1xxResponse sees each skipped one.
func (c *conn) readResponse(req *http.Request) (*http.Response, error) {
	for i := 0; ; i++ {
		resp, err := c.readHead(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if err := c.interim(req, resp); err != nil {
			return nil, err
		}
		if i == maxInterim {
			return nil, ErrTooManyInterim
		}
	}
}

// readHead reads one response head (and prepares its body), noting in
// c.scan what its framing fields were. Once the head's first bytes are
// in, a plain head (the common answer) is parsed in place at once, with
// no scan before: fastHead takes only a head buffered whole with one
// Content-Length and no Transfer-Encoding, which is all that scanHead
// would find in it (fastScan; parseBoth checks it on every head the tests
// and FuzzFastHead give). Any other head is scanned, then parsed.
func (c *conn) readHead(req *http.Request) (*http.Response, error) {
	n := c.br.Buffered()
	if n == 0 {
		if _, err := c.br.Peek(1); err != nil {
			// Peek consumed the error; ReadResponse's own read meets it
			// again (conn.Read keeps it: herr), as it did after scanHead's.
			c.scan = headScan{}
			return c.parseHead(req)
		}
		n = c.br.Buffered()
	}
	if resp := fastHead(c.br, req); resp != nil { // head.go
		c.scan = fastScan
		return resp, nil
	}
	c.scan = scanHead(c.br)
	if c.scan.complete && c.br.Buffered() > n {
		// The head was not all in at the first attempt.
		if resp := fastHead(c.br, req); resp != nil {
			return resp, nil
		}
	}
	resp, err := c.parseHead(req)
	if err != nil && c.herr != nil && isTimeout(c.herr) {
		// A head cut short by a read timeout fails to parse (textproto
		// takes a partial last line for a whole one): the timeout, not
		// the parse, is the cause.
		err = c.herr
	}
	if err == nil && resp.StatusCode < 100 {
		// http.ReadResponse takes "099"; it is neither interim nor
		// final, and skipped as a 1xx (by readResponse, or while
		// awaiting 100 Continue) it left the body's bytes to be read as
		// the next head, the request waiting for it.
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %03d", ErrStatus, resp.StatusCode)
	}
	return resp, err
}

// parseHead is http.ReadResponse's reading of the next head, less the
// fields whose names are not tokens, which it keeps (forward's
// DropInvalidNames says why they must go). Only here: fastHead refuses a
// head with such a name, so the common answer is never scanned for them.
// A backend that sends one is not trusted with another exchange
// (c.distrust): closing is safer than guessing what else it gets wrong.
func (c *conn) parseHead(req *http.Request) (*http.Response, error) {
	resp, err := http.ReadResponse(c.br, req)
	if err == nil && forward.DropInvalidNames(resp.Header) {
		c.distrust = true
	}
	return resp, err
}

// interim reports a skipped 1xx response to the exchange's
// InterimHandler, or else to the request's client trace.
func (c *conn) interim(req *http.Request, resp *http.Response) error {
	if c.ih != nil {
		return c.ih.Interim(resp.StatusCode, resp.Header)
	}
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil && tr.Got1xxResponse != nil {
		return tr.Got1xxResponse(resp.StatusCode, textproto.MIMEHeader(resp.Header))
	}
	return nil
}

// finish hands resp to the caller: the body is wrapped so that the
// connection goes back to the pool after EOF. The header deadline stays
// armed (conn.Read lifts it should it expire under the body).
func (c *conn) finish(req *http.Request, resp *http.Response, reuse bool) (*http.Response, staleness, error) {
	c.limit = 0 // the body may be as long as it likes
	// Checked after the last change of deadline: a context that ends
	// later still finds its abort effective, one that ended earlier is
	// caught here. A receive from the Done channel taken by watch is a
	// few instructions; Err walks the request's chain of contexts
	// (Caddy's carries a dozen) and took 0.5 µs per exchange in profiles.
	// An exchange no watcher follows is not checked: its answer came
	// within abortCheck, and a client gone meanwhile fails the proxy's
	// write of it.
	if c.ended() {
		c.fail()
		return nil, notStale, fmt.Errorf("h1: %w", req.Context().Err())
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The stream outlives the request; its owner closes it.
		if c.stop != nil {
			stopped := c.stop()
			c.stop = nil
			if !stopped {
				c.fail()
				return nil, notStale, fmt.Errorf("h1: %w", req.Context().Err())
			}
		} else if c.ctx != nil && c.ctx.Err() != nil {
			c.fail()
			return nil, notStale, fmt.Errorf("h1: %w", c.ctx.Err())
		}
		c.ctx, c.guarded = nil, false
		c.setReadDeadline(time.Time{})
		c.upgraded = true
		resp.Body = &upgradedConn{c: c}
		return resp, notStale, nil
	}
	reuse = reuse && !resp.Close && !req.Close && !hasToken(req.Header["Connection"], "close") &&
		!c.scan.ambiguous(resp) && !c.distrust
	if resp.Body == http.NoBody {
		c.release(reuse)
		return resp, notStale, nil
	}
	c.inBody = true
	length := int64(-1)
	if resp.ContentLength > 0 && len(resp.TransferEncoding) == 0 {
		length = resp.ContentLength
	}
	var b *body
	if lb, ok := resp.Body.(*lengthBody); ok && lb.wrap != nil {
		b, lb.wrap = lb.wrap, nil // allocated with the response (head.go)
	} else {
		b = new(body)
	}
	*b = body{c: c, rc: resp.Body, ctx: req.Context(), reuse: reuse, length: length}
	resp.Body = b
	return resp, notStale, nil
}

// ended reports whether the exchange's context has ended.
func (c *conn) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// fail ends an exchange that went wrong: the connection is closed.
func (c *conn) fail() { c.release(false) }

// wrapErr names what failed: the context's end, whatever the read met
// then (an abort's deadline, most often), or the head's timeouts as
// conn.Read named them (headTimeout), or err in step.
func (c *conn) wrapErr(ctx context.Context, step string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("h1: %s: %w", step, cerr)
	}
	if err == ErrResponseHeaderTimeout || err == ErrReadTimeout {
		return err
	}
	return fmt.Errorf("h1: %s: %w", step, err)
}

// connGone reports errors that show the backend closed the connection.
func connGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}
