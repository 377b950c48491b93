package smartproxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/caddy-smartproxy/smartproxy/forward"
)

// framedConn is an HTTP/1.1-over-TLS backend connection that keeps every
// byte of one exchange away from the next. net/http returns a connection
// to its pool before it looks for bytes left after a response, so under
// concurrency a backend's extra bytes (a body past its Content-Length,
// bytes after a chunked body, a body after the answer to HEAD) were read as
// another request's response (TestTLSBackendHostileResponsesUnderConcurrency).
// Here a shadow parser (net/http's own http.ReadResponse, so it frames
// exactly as the transport does) reads each response as it passes, and
// the connection
//   - hands the transport no byte past the end of the final response:
//     bytes after it poison the connection, and every later read and write
//     fails, so it is closed rather than pooled;
//   - after a response with a field whose name is not a token (the
//     parser keeps it, the proxy drops it: forward.DropInvalidNames),
//     fails every later read and write too: a backend that sends one is
//     not trusted with another exchange, as h1 treats it;
//   - fails on a byte that arrives while no request is outstanding;
//   - starts a request only once the transport's reader waits on a quiet
//     connection: nothing buffered in the TLS layer (a read with a deadline
//     in the past finds nothing) and the reader blocked on the network.
//
// Bytes still in flight on the network when a request starts are read as
// its answer, as on any HTTP/1.1 connection: only a backend that is itself
// desynchronised sends them. A 101 response, or one the parser cannot
// read (net/http then fails too and closes), turns the checks off.
type framedConn struct {
	*tls.Conn
	mu   sync.Mutex
	cond sync.Cond

	outstanding bool   // a request was started; its final response has not ended
	method      string // of the outstanding request, for the parser
	parked      bool   // the reader waits on the network after a quiet probe
	poisoned    error  // once set, reads and writes fail with it
	pass        bool   // no more checks (upgraded, or unparseable)
	closed      bool

	// The shadow parser's side.
	feed    []byte // bytes read, not yet taken by the parser
	spare   []byte // feed's buffer, reused
	hungry  bool   // the parser waits for bytes
	ended   bool   // the parser saw the end of the outstanding response
	excess  int    // bytes fed after that end
	badName bool   // a head of the outstanding exchange had a name that is not a token
	readErr error  // the network's error, for the parser
}

// Errors of a framedConn.
var (
	errHiddenBytes = errors.New("backend sent bytes after the end of its response; connection closed")
	errUnsolicited = errors.New("backend sent bytes with no request outstanding; connection closed")
	errNotQuiet    = errors.New("backend connection did not become quiet for the next request")
	errBadNames    = errors.New("backend sent field names that are not tokens; connection closed")
)

// quietWait bounds how long a request waits for the transport's reader to
// reach a quiet connection (normally microseconds).
const quietWait = time.Second

func newFramedConn(tc *tls.Conn) *framedConn {
	c := &framedConn{Conn: tc}
	c.cond.L = &c.mu
	go c.parse()
	return c
}

// parse is the shadow parser: one response per request, 1xx heads
// skipped, the body read to its end.
func (c *framedConn) parse() {
	br := bufio.NewReader(shadowSource{c})
	for {
		method, ok := c.nextRequest()
		if !ok {
			return
		}
		req := &http.Request{Method: method}
		for {
			resp, err := http.ReadResponse(br, req)
			if err != nil || resp.StatusCode == http.StatusSwitchingProtocols {
				c.stopChecks()
				return
			}
			if forward.DropInvalidNames(resp.Header) {
				c.mu.Lock()
				c.badName = true
				c.mu.Unlock()
			}
			if resp.StatusCode < 200 {
				continue // interim
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				c.stopChecks()
				return
			}
			break
		}
		c.mu.Lock()
		c.ended, c.excess = true, br.Buffered()+len(c.feed)
		c.outstanding, c.feed = false, c.feed[:0]
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

func (c *framedConn) nextRequest() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.closed && !c.pass && c.poisoned == nil && (!c.outstanding || c.method == "") {
		c.cond.Wait()
	}
	m := c.method
	c.method = ""
	return m, !c.closed && !c.pass && c.poisoned == nil
}

func (c *framedConn) stopChecks() {
	c.mu.Lock()
	c.pass = true
	c.cond.Broadcast()
	c.mu.Unlock()
}

// shadowSource gives the parser the bytes the transport reads.
type shadowSource struct{ c *framedConn }

func (s shadowSource) Read(p []byte) (int, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.feed) == 0 && c.readErr == nil && !c.closed && !c.pass {
		c.hungry = true
		c.cond.Broadcast()
		c.cond.Wait()
	}
	c.hungry = false
	if len(c.feed) == 0 {
		if c.readErr != nil {
			return 0, c.readErr
		}
		return 0, net.ErrClosed
	}
	n := copy(p, c.feed)
	c.feed = c.feed[n:]
	return n, nil
}

// Read is the transport's read: see framedConn.
func (c *framedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.pass {
		c.mu.Unlock()
		return c.Conn.Read(p)
	}
	if c.poisoned != nil {
		c.mu.Unlock()
		return 0, c.poisoned
	}
	idle := !c.outstanding
	c.mu.Unlock()
	if idle {
		// Quiet: nothing decrypted or buffered in the TLS layer. A read
		// past its deadline returns at once; its timeout leaves the
		// connection usable.
		c.Conn.SetReadDeadline(time.Unix(1, 0))
		n, err := c.Conn.Read(p)
		c.Conn.SetReadDeadline(time.Time{})
		if n > 0 {
			return 0, c.poison(errUnsolicited)
		}
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			return 0, err
		}
		c.mu.Lock()
		c.parked = true
		c.cond.Broadcast()
		c.mu.Unlock()
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parked = false
	if c.pass {
		return n, err
	}
	if n > 0 {
		if !c.outstanding {
			return 0, c.poisonLocked(errUnsolicited)
		}
		// The parser has taken every byte fed before (or ended): refill
		// the same buffer.
		c.feed = append(c.spare[:0], p[:n]...)
		c.spare = c.feed[:0]
		c.cond.Broadcast()
		for !(c.hungry && len(c.feed) == 0) && !c.ended && !c.pass && !c.closed {
			c.cond.Wait()
		}
		if c.ended && c.excess > 0 {
			keep := n - c.excess
			c.poisonLocked(errHiddenBytes)
			if keep < 0 {
				return 0, c.poisoned
			}
			return keep, nil
		}
		if c.ended && c.badName {
			c.poisonLocked(errBadNames) // this read ends the answer; the next fails
			return n, nil
		}
	}
	if err != nil {
		c.readErr = err
		c.cond.Broadcast()
	}
	return n, err
}

// Write is the transport's write. The first write of a request waits for
// a quiet connection (see framedConn).
func (c *framedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.pass && !c.outstanding {
		if c.poisoned == nil && !c.parked {
			t := time.AfterFunc(quietWait, func() {
				c.mu.Lock()
				if c.poisoned == nil && !c.parked {
					c.poisoned = errNotQuiet
				}
				c.cond.Broadcast()
				c.mu.Unlock()
			})
			for c.poisoned == nil && !c.parked && !c.closed && !c.pass {
				c.cond.Wait()
			}
			t.Stop()
		}
		if c.closed {
			c.mu.Unlock()
			return 0, net.ErrClosed
		}
		if c.poisoned != nil {
			err := c.poisoned
			c.mu.Unlock()
			return 0, err
		}
		if !c.pass {
			method, _, ok := bytes.Cut(p, []byte(" "))
			if !ok {
				c.mu.Unlock()
				return 0, c.poison(errors.New("request does not start with its method"))
			}
			c.method, c.outstanding, c.ended = string(method), true, false
			c.cond.Broadcast()
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *framedConn) poison(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.poisonLocked(err)
}

func (c *framedConn) poisonLocked(err error) error {
	if c.poisoned == nil {
		c.poisoned = err
	}
	c.cond.Broadcast()
	return c.poisoned
}

// Close closes the connection and ends the shadow parser.
func (c *framedConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	return c.Conn.Close()
}
