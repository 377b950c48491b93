package redisstore

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// The Store trusts Redis to decide requests, never with its memory. go-redis
// allocates what a reply header announces before the payload arrives
// (make([]any, n) for "*n", make([]byte, n) for "$n") and reads a line
// until it ends, so one hostile or garbage reply could take gigabytes. Every
// connection go-redis uses is therefore wrapped in a guardedConn, which
// checks the RESP stream as it is read, before go-redis sees a byte of it,
// and fails the connection on the first reply that is larger than the store
// ever needs. The script's replies are four integers, and the handshake's
// (HELLO, a map of seven fields and a list of modules) are far below these
// bounds.
const (
	// maxLine bounds a header or simple line (status, error, number) from
	// its type byte to its CRLF.
	maxLine = 4096
	// maxReplyBytes bounds one top-level reply, every nested value and
	// bulk payload included.
	maxReplyBytes = 64 << 10
	// maxAggregate bounds the elements one array, set, push or map
	// announces (a map's n pairs count as 2n).
	maxAggregate = 64
	// maxElements bounds the elements all the aggregates of one reply
	// announce together, which is what go-redis allocates for them.
	maxElements = 1024
	// maxDepth bounds the nesting of aggregates.
	maxDepth = 8
)

// errHostileReply is the cause of a connection failed by its guard: the
// server sent something no Redis running our script sends. It counts as
// Redis being unavailable.
var errHostileReply = errors.New("redis reply refused by the rate limit store's protocol guard")

// Guard states: what the next byte is.
const (
	gType   uint8 = iota // the type byte of a value
	gLine                // the rest of a header or simple line
	gLineLF              // the LF after a line's CR
	gBulk                // bulk payload
	gBulkCR              // the CR after a bulk payload
	gBulkLF              // the LF after that
)

// respGuard checks a RESP2 or RESP3 reply stream incrementally, in any
// chunking, against the bounds above. The zero value expects the start of
// a reply.
type respGuard struct {
	state uint8
	// kind is the type byte of the line being read.
	kind byte
	// lineLen counts the line's bytes so far, type byte included.
	lineLen int
	// n is the length being parsed from a header line; neg and digits
	// describe its text so far.
	n      int
	neg    bool
	digits int
	// bulk is the payload bytes still to come.
	bulk int
	// left holds, per open aggregate, the elements still to come.
	left  [maxDepth]int
	depth int
	// elems and bytes are what the current top-level reply has announced
	// and taken so far.
	elems, bytes int
	// lim are the bounds; zero fields are the script's (the constants
	// above).
	lim GuardLimits
}

// GuardLimits are the bounds of a guard for a Redis user that needs more
// than the script's replies (the shared cache tier: stored records, and a
// Cluster's COMMAND and CLUSTER SLOTS replies). Zero fields keep the
// script's bounds; lines and nesting are bounded alike for every user.
type GuardLimits struct {
	// ReplyBytes bounds one reply's bytes. Default: 64 KiB.
	ReplyBytes int
	// Aggregate bounds the elements one aggregate announces. Default: 64.
	Aggregate int
	// Elements bounds the elements all the aggregates of one reply
	// announce together. Default: 1024.
	Elements int
}

// maxBytes is the guard's bound on one reply's bytes.
func (g *respGuard) maxBytes() int { return cmp.Or(g.lim.ReplyBytes, maxReplyBytes) }

// check consumes p, returning an error wrapping errHostileReply at the
// first byte that breaks the protocol or a bound. After an error the
// guard's state is meaningless; the connection must be closed.
func (g *respGuard) check(p []byte) error {
	for i := 0; i < len(p); i++ {
		g.bytes++
		if g.bytes > g.maxBytes() {
			return fmt.Errorf("%w: a reply of more than %d bytes", errHostileReply, g.maxBytes())
		}
		c := p[i]
		switch g.state {
		case gType:
			if err := g.start(c); err != nil {
				return err
			}
		case gLine:
			if err := g.lineByte(c); err != nil {
				return err
			}
		case gLineLF:
			if c != '\n' {
				return fmt.Errorf("%w: CR without LF", errHostileReply)
			}
			if err := g.endLine(); err != nil {
				return err
			}
		case gBulk:
			// Skip as much payload as this chunk holds.
			k := min(g.bulk, len(p)-i)
			g.bulk -= k
			g.bytes += k - 1
			i += k - 1
			if g.bulk == 0 {
				g.state = gBulkCR
			}
		case gBulkCR:
			if c != '\r' {
				return fmt.Errorf("%w: bulk payload longer than announced", errHostileReply)
			}
			g.state = gBulkLF
		case gBulkLF:
			if c != '\n' {
				return fmt.Errorf("%w: CR without LF after a bulk payload", errHostileReply)
			}
			g.state = gType
			g.done()
		}
	}
	return nil
}

// start begins a value with type byte c.
func (g *respGuard) start(c byte) error {
	switch c {
	case '+', '-', ':', ',', '(', '#', '_', // simple lines
		'$', '!', '=', // bulk strings, blob errors, verbatim strings
		'*', '~', '>', '%': // arrays, sets, pushes, maps
	default:
		// Attributes ('|') and anything else: Redis never sends them here.
		return fmt.Errorf("%w: type byte %q", errHostileReply, c)
	}
	g.kind, g.state, g.lineLen = c, gLine, 1
	g.n, g.neg, g.digits = 0, false, 0
	return nil
}

// lengthKind reports whether lines of kind carry a length or count.
func lengthKind(kind byte) bool {
	switch kind {
	case '$', '!', '=', '*', '~', '>', '%':
		return true
	}
	return false
}

// lineByte consumes one byte of a line after its type byte.
func (g *respGuard) lineByte(c byte) error {
	g.lineLen++
	if g.lineLen > maxLine {
		return fmt.Errorf("%w: a line of more than %d bytes", errHostileReply, maxLine)
	}
	switch {
	case c == '\r':
		g.state = gLineLF
		return nil
	case c == '\n':
		return fmt.Errorf("%w: LF without CR", errHostileReply)
	case !lengthKind(g.kind):
		return nil
	case c == '-' && g.digits == 0 && !g.neg:
		g.neg = true
		return nil
	case c < '0' || c > '9':
		return fmt.Errorf("%w: %q in the length of a %q reply", errHostileReply, c, g.kind)
	}
	g.digits++
	g.n = g.n*10 + int(c-'0')
	// Fail while the header is still arriving, before go-redis could act
	// on it: no length above the reply budget is accepted.
	if g.n > g.maxBytes() || g.neg && g.n > 1 {
		return fmt.Errorf("%w: a %q reply announcing %s%d or more", errHostileReply, g.kind, sign(g.neg), g.n)
	}
	return nil
}

// sign is "-" for a negative number being parsed.
func sign(neg bool) string {
	if neg {
		return "-"
	}
	return ""
}

// endLine acts on a complete line.
func (g *respGuard) endLine() error {
	g.state = gType
	if !lengthKind(g.kind) {
		g.done()
		return nil
	}
	if g.digits == 0 {
		return fmt.Errorf("%w: a %q reply without a length", errHostileReply, g.kind)
	}
	if g.neg || g.n == 0 && g.kind != '$' && g.kind != '!' && g.kind != '=' {
		// A RESP2 null (-1) or an empty aggregate: a complete value.
		g.done()
		return nil
	}
	switch g.kind {
	case '$', '!', '=':
		if g.bytes+g.n+2 > g.maxBytes() {
			return fmt.Errorf("%w: a bulk string of %d bytes", errHostileReply, g.n)
		}
		g.bulk = g.n
		g.state = gBulk
		if g.n == 0 {
			g.state = gBulkCR
		}
		return nil
	}
	n := g.n
	if g.kind == '%' {
		n *= 2
	}
	g.elems += n
	switch {
	case n > cmp.Or(g.lim.Aggregate, maxAggregate):
		return fmt.Errorf("%w: an aggregate of %d elements", errHostileReply, n)
	case g.elems > cmp.Or(g.lim.Elements, maxElements):
		return fmt.Errorf("%w: a reply of more than %d elements", errHostileReply, cmp.Or(g.lim.Elements, maxElements))
	case g.depth == maxDepth:
		return fmt.Errorf("%w: aggregates nested more than %d deep", errHostileReply, maxDepth)
	}
	g.left[g.depth] = n
	g.depth++
	return nil
}

// done records a complete value: it fills one element of the innermost open
// aggregate, which may complete that aggregate in turn; a complete
// top-level reply resets the per-reply budgets.
func (g *respGuard) done() {
	for g.depth > 0 {
		g.left[g.depth-1]--
		if g.left[g.depth-1] > 0 {
			return
		}
		g.depth--
	}
	g.elems, g.bytes = 0, 0
}

// guardedConn is a connection to Redis whose reads pass through a
// respGuard. A read that breaks a bound returns no data and an error, and
// closes the connection, as does every read after it.
type guardedConn struct {
	net.Conn
	// raw is the TCP connection under Conn (Conn itself without TLS). A
	// failed connection closes raw: closing a TLS connection would first
	// write an alert, which a peer that does not read could stall.
	raw net.Conn
	g   respGuard
	err error
}

// Read reads from the connection and hands the bytes on only once the
// guard has accepted them all.
func (c *guardedConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if gerr := c.g.check(p[:n]); gerr != nil {
		c.err = gerr
		c.raw.Close()
		return 0, gerr
	}
	return n, err
}

// guardedSysConn is a guardedConn over a TCP connection. Exposing the
// socket lets go-redis's pool notice, before reuse, that the server closed
// an idle connection (it peeks without consuming, so the guard misses
// nothing).
type guardedSysConn struct{ *guardedConn }

// SyscallConn returns the raw socket.
func (c guardedSysConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

// guard wraps conn, which runs over the TCP connection raw, in a
// guardedConn with the bounds lim.
func guard(conn, raw net.Conn, lim GuardLimits) net.Conn {
	gc := &guardedConn{Conn: conn, raw: raw}
	gc.g.lim = lim
	if _, ok := conn.(syscall.Conn); ok {
		return guardedSysConn{gc}
	}
	return gc
}

// Interface guards
var (
	_ net.Conn     = (*guardedConn)(nil)
	_ syscall.Conn = guardedSysConn{}
)
