package h1

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Splicing. A response body framed by Content-Length can leave the
// backend's socket without passing through the proxy's memory: SpliceTo
// writes what the connection has already buffered of it, then hands the
// rest to the destination's ReadFrom as an *io.LimitedReader over the
// backend's *net.TCPConn, bounded by exactly the bytes the Content-Length
// leaves. A *net.TCPConn destination (Go's HTTP/1 server's ReadFrom reaches
// it for a plain-HTTP client) moves those with splice(2) on Linux; any
// other ReaderFrom copies them, as it would any reader.
//
// Framing is untouched: only a body whose length is known is spliced, never
// a byte past it is read, a body cut short fails as a read would, and the
// connection is pooled only when the body ended exactly and the socket is
// quiet, as after Read (chunked bodies and bodies delimited by the close
// never splice: their framing is in the bytes).

// SpliceMin is the least a body must have left, beyond what is buffered,
// for CanSplice: below it the pipe's two system calls cost more than the
// copy they save.
const SpliceMin = 32 << 10

// ErrSpliceWrite marks a SpliceTo that failed on the destination's side
// (the client went away), the backend's connection being intact; errors
// without it are the backend's.
var ErrSpliceWrite = errors.New("h1: writing spliced body")

// SpliceWriter is where SpliceTo sends a body: Write gets the bytes already
// buffered, ReadFrom the rest as an *io.LimitedReader over a *net.TCPConn.
type SpliceWriter interface {
	io.Writer
	io.ReaderFrom
}

// Splicer is implemented by the response bodies RoundTrip returns.
type Splicer interface {
	// CanSplice reports whether the body is framed by Content-Length,
	// comes from a TCP connection, and has at least SpliceMin bytes
	// left beyond those already buffered.
	CanSplice() bool
	// SpliceTo sends the rest of the body to dst and, as Read at EOF
	// does, releases the connection. An error wrapping ErrSpliceWrite
	// is dst's failure; any other is the backend's (a body cut short is
	// io.ErrUnexpectedEOF) or the request context's end.
	SpliceTo(dst SpliceWriter) (int64, error)
}

// CanSplice implements Splicer.
func (b *body) CanSplice() bool {
	if b.length < SpliceMin {
		// Set before the body was handed out and never changed: most
		// bodies (and every one not framed by Content-Length) are
		// turned away without the lock.
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil || b.reading || b.length < 0 {
		return false
	}
	if _, ok := b.c.nc.(*net.TCPConn); !ok {
		return false
	}
	return b.length-b.read-int64(b.c.br.Buffered()) >= SpliceMin
}

// SpliceTo implements Splicer. It may be called once, on a body whose
// CanSplice was true; a Close meanwhile ends it as it ends a Read.
func (b *body) SpliceTo(dst SpliceWriter) (int64, error) {
	b.mu.Lock()
	c := b.c
	if c == nil || b.reading || b.length < 0 {
		b.mu.Unlock()
		return 0, errors.New("h1: SpliceTo on a body that cannot splice")
	}
	b.reading = true
	b.mu.Unlock()

	n, err := c.splice(dst, b.length-b.read)
	if err != nil && !errors.Is(err, ErrSpliceWrite) {
		if cerr := b.ctx.Err(); cerr != nil {
			err = cerr
		}
		err = fmt.Errorf("h1: reading response body: %w", err)
	}

	b.mu.Lock()
	b.reading = false
	b.c = nil
	switch {
	case b.closing:
		b.mu.Unlock()
		c.release(false)
		if err == nil {
			err = ErrBodyClosed
		}
	case err == nil:
		b.eof = true
		b.mu.Unlock()
		c.release(b.reuse)
	default:
		b.mu.Unlock()
		c.release(false)
	}
	return n, err
}

// splice sends rest bytes of the body to dst: the buffered ones by Write,
// the others from the socket by ReadFrom, under no read deadline (the
// header deadline bounds no body; abort, by a watcher registered here if
// none was, still wakes the transfer).
func (c *conn) splice(dst SpliceWriter, rest int64) (int64, error) {
	var n int64
	if k := int64(c.br.Buffered()); k > 0 {
		p, _ := c.br.Peek(int(min(k, rest)))
		m, err := dst.Write(p)
		c.br.Discard(m)
		n += int64(m)
		rest -= int64(m)
		if err != nil {
			return n, fmt.Errorf("%w: %w", ErrSpliceWrite, err)
		}
	}
	if rest == 0 {
		return n, nil
	}
	c.watch() // no deadline follows the context from here
	c.setReadDeadline(time.Time{})
	c.lr = io.LimitedReader{R: c.nc, N: rest}
	m, err := dst.ReadFrom(&c.lr)
	n += m
	left := c.lr.N
	c.lr = io.LimitedReader{}
	switch {
	case err == nil && left > 0:
		return n, io.ErrUnexpectedEOF // the backend closed early
	case err == nil:
		return n, nil
	case c.aborted.Load() || !c.peerOpen():
		return n, err
	}
	return n, fmt.Errorf("%w: %w", ErrSpliceWrite, err)
}
