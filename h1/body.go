package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// body is a response body that gives its connection back when done: to the
// pool after EOF (if the exchange allows reuse), closed otherwise. A body
// closed before EOF closes the connection rather than draining it: the
// proxy reads every body it wants to EOF, and one it abandons (the client
// left) may be large or endless.
//
// One is allocated per response with a body: it must not be pooled, since
// a caller may call Close after the connection has moved on to another
// exchange.
type body struct {
	mu      sync.Mutex
	c       *conn // nil once the connection is released
	rc      io.ReadCloser
	ctx     context.Context // the request's: its end explains a failed read
	reuse   bool
	eof     bool
	reading bool  // a Read or SpliceTo is in progress outside mu
	length  int64 // the Content-Length; -1 for other framings (splice.go); never changes
	read    int64 // bytes Read so far
	closing bool  // Close came during that Read
}

// Read reads the body. At EOF the response's Trailer is complete and the
// connection is released.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.c == nil {
		b.mu.Unlock()
		if b.eof {
			return 0, io.EOF
		}
		return 0, ErrBodyClosed
	}
	if b.reading {
		b.mu.Unlock()
		return 0, errors.New("h1: concurrent reads of a response body")
	}
	b.reading = true
	c := b.c
	b.mu.Unlock()

	n, err := b.rc.Read(p)

	b.mu.Lock()
	b.reading = false
	b.read += int64(n)
	switch {
	case b.closing:
		b.c = nil
		b.mu.Unlock()
		c.release(false)
		if err == nil || err == io.EOF {
			return n, ErrBodyClosed
		}
		return n, err
	case err == io.EOF:
		b.c, b.eof = nil, true
		b.mu.Unlock()
		c.release(b.reuse)
		return n, io.EOF
	case err != nil:
		b.c = nil
		b.mu.Unlock()
		c.release(false)
		if cerr := b.ctx.Err(); cerr != nil {
			return n, fmt.Errorf("h1: reading response body: %w", cerr)
		}
		if errors.Is(err, ErrBodyReadTimeout) {
			return n, err // names itself
		}
		return n, fmt.Errorf("h1: reading response body: %w", err)
	}
	b.mu.Unlock()
	return n, nil
}

// Close releases the connection: kept when the body was read to EOF,
// closed otherwise. A Close during a Read in another goroutine wakes that
// Read, which then closes the connection.
func (b *body) Close() error {
	b.mu.Lock()
	c := b.c
	if c == nil {
		b.mu.Unlock()
		return nil
	}
	if b.reading {
		b.closing = true
		b.mu.Unlock()
		c.abort()
		return nil
	}
	b.c = nil
	b.mu.Unlock()
	c.release(false)
	return nil
}

// upgradedConn is the body of a 101 Switching Protocols response: the
// raw connection, read through the buffer that may already hold the new
// protocol's first bytes. It never returns to the pool.
type upgradedConn struct{ c *conn }

func (u *upgradedConn) Read(p []byte) (int, error)  { return u.c.br.Read(p) }
func (u *upgradedConn) Write(p []byte) (int, error) { return u.c.nc.Write(p) }

// Close closes the connection.
func (u *upgradedConn) Close() error { return u.c.nc.Close() }

// CloseWrite half-closes the connection (TCP and TLS can), so a tunnel can
// pass on the end of the client's stream; errors.ErrUnsupported otherwise.
func (u *upgradedConn) CloseWrite() error {
	if cw, ok := u.c.nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// requestBody stands in for the request body while (*http.Request).Write
// sends it. It keeps the body's own read error, which Write returns
// wrapped in a type that hides it, so that a failure of the client's side
// can be told from the backend's (RequestBodyError). With
// "Expect: 100-continue" its first Read, which comes after Write has
// flushed the headers, first waits for the backend's go-ahead.
type requestBody struct {
	c      *conn
	req    *http.Request
	rc     io.ReadCloser
	expect bool  // wait for 100 Continue before the first read
	err    error // the body's read error, if any (not io.EOF)
}

// errExpectRefused stops the body write when the backend answered without
// 100 Continue; RoundTrip returns that answer.
var errExpectRefused = errors.New("h1: backend answered before 100 Continue")

func (rb *requestBody) Read(p []byte) (int, error) {
	if rb.expect {
		rb.expect = false
		if !rb.c.awaitContinue(rb.req) {
			return 0, errExpectRefused
		}
	}
	n, err := rb.rc.Read(p)
	if err != nil && err != io.EOF && rb.err == nil {
		rb.err = err
	}
	return n, err
}

func (rb *requestBody) Close() error { return rb.rc.Close() }

// awaitContinue waits for "100 Continue" at most ExpectContinueTimeout
// and reports whether to send the body: true on 100 or on silence, false
// when a final response (kept in c.early) or an error (c.earlyErr) came.
// The header timeout does not run yet: the request is not all written.
//
// Silence is a wait that ends with no head begun: the timer's, or a
// per-read bound of the connection's (timeouts.read) that is shorter. A
// timer that fires inside a head does not end the wait (expired): the
// head is read to its end, under the header timeout from then on; an
// interim head other than 100 that ends after the timer is silence too.
// Any other timeout inside a head is final.
func (c *conn) awaitContinue(req *http.Request) bool {
	if err := req.Context().Err(); err != nil {
		c.earlyErr = err
		return false
	}
	c.guarded, c.continueWait = true, true
	c.headFrom = c.nread - int64(c.br.Buffered()) // 0 and 0: none of the answer is in yet
	c.setReadDeadline(time.Now().Add(c.t.cfg.ExpectContinueTimeout))
	send := c.continueHeads(req)
	c.guarded, c.continueWait = false, false
	if !send {
		return false
	}
	c.setReadDeadline(time.Time{}) // the body is written under none
	if err := req.Context().Err(); err != nil {
		c.earlyErr = err
		return false
	}
	return true
}

// continueHeads reads the heads that come while awaitContinue waits.
func (c *conn) continueHeads(req *http.Request) bool {
	for i := 0; ; i++ {
		resp, err := c.readHead(req)
		if err != nil {
			if c.nread == c.headFrom && isTimeout(err) && !c.aborted.Load() && req.Context().Err() == nil {
				c.herr = nil // not final: the wait for 100 Continue ended
				return true  // silence: send the body anyway
			}
			c.earlyErr = err
			return false
		}
		if resp.StatusCode == http.StatusContinue {
			return true
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			c.early = resp
			return false
		}
		if err := c.interim(req, resp); err != nil {
			c.earlyErr = err
			return false
		}
		if i == maxInterim {
			c.earlyErr = ErrTooManyInterim
			return false
		}
		if !c.continueWait {
			return true // the timer fired inside that head: the wait is over
		}
		// Where the next head begins: bytes of it may have come with
		// this one, and are buffered.
		c.headFrom = c.nread - int64(c.br.Buffered())
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// expectsContinue reports whether h asks for 100 Continue.
func expectsContinue(h http.Header) bool {
	v, ok := h["Expect"]
	return ok && len(v) > 0 && strings.EqualFold(strings.TrimSpace(v[0]), "100-continue")
}

// hasToken reports whether a comma-separated header holds token.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
