package smartproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-smartproxy/smartproxy/forward"
	"github.com/caddy-smartproxy/smartproxy/h1"
)

// Large bodies to plain-HTTP/1.1 clients are spliced: the backend's bytes
// go from its socket to the client's without passing through the proxy's
// memory (h1/splice.go; Linux splice(2) behind *net.TCPConn.ReadFrom, which
// Go's HTTP/1 server reaches from its response writer's ReadFrom). TLS and
// HTTP/2 clients, bodies without a Content-Length and streams that flush
// take the copy path (forward.CopyBody).
//
// Caddy's server wraps every response writer in an IdleTimeoutWriter (the
// server's write_idle_timeout, 1m by default), whose ReadFrom hands each
// chunk down as io.LimitReader(r, max_write_chunk): a LimitedReader over a
// LimitedReader, which no socket splices (and which Go then copies through
// a fresh 32 KiB buffer per chunk). So, when the writer this handler got is
// that IdleTimeoutWriter itself (no other handler wraps it) and it counts
// no minimum rate, spliceWriter does what its ReadFrom does, chunk by
// chunk: re-arms the idle deadline (FlushError, which on HTTP/1 leaves the
// deadline armed) and sends at most max_write_chunk bytes through the
// writer it wraps, as one LimitedReader over the backend's socket. A writer
// wrapped by another handler (encode, an access log's recorder, ...) or
// under a minimum rate gets the copy path: its bookkeeping is its own.
//
// Go's server splices only when the connection it serves is an
// io.ReaderFrom. A server that speaks only one of HTTP/1 and HTTP/2
// (protocols ["h1"], as the benchmark harness has it) gets every plain
// connection wrapped by Caddy (http2Conn, which refuses the other
// protocol's preface) in a type that hides *net.TCPConn's ReadFrom; so
// does any listener wrapper whose connections lack ReadFrom. There
// net/http would copy a "spliced" body through its own 32 KiB buffer, so
// the handler copies it instead, through forward.CopyBody's large buffers:
// a hook on the server's ConnContext (registerSpliceProbe) notes for each
// connection whether net/http can splice to it. Writing to the socket
// under the wrapper directly is no way out: net/http counts the bytes its
// response writer sent and closes a keep-alive connection whose handler
// wrote fewer than its Content-Length.

// sendBody sends resp's body to w, the response writer for r, spliced
// when it can be, else copied. Its errors are forward.CopyBody's: the
// client's failure wraps forward.ErrClientGone.
func sendBody(w http.ResponseWriter, r *http.Request, resp *http.Response) error {
	flush := forward.ShouldFlush(resp)
	if sp, ok := resp.Body.(h1.Splicer); ok && !flush && sp.CanSplice() && clientSplices(r) {
		if sw := newSpliceWriter(w, r); sw != nil {
			_, err := sp.SpliceTo(sw)
			if errors.Is(err, h1.ErrSpliceWrite) {
				return errors.Join(forward.ErrClientGone, err)
			}
			return err
		}
	}
	_, err := forward.CopyBody(w, resp.Body, resp.ContentLength, flush)
	return err
}

// spliceProbeKey is the connection context's key for whether net/http can
// splice to the connection (its net.Conn is an io.ReaderFrom).
type spliceProbeKey struct{}

// registerSpliceProbe has the server that ctx provisions the handler for
// note, for each connection, whether net/http can splice to it. Without
// that server (a handler provisioned elsewhere) nothing is noted and
// clientSplices assumes it can.
func registerSpliceProbe(ctx caddy.Context) {
	if srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv != nil {
		srv.RegisterConnContext(probeSplice)
	}
}

// probeSplice is the ConnContext hook; several handlers on one server
// register it, and the first one notes.
func probeSplice(ctx context.Context, c net.Conn) context.Context {
	if _, seen := ctx.Value(spliceProbeKey{}).(bool); seen {
		return ctx
	}
	_, rf := c.(io.ReaderFrom)
	return context.WithValue(ctx, spliceProbeKey{}, rf)
}

// clientSplices reports whether r's connection may take a spliced body:
// false only when its server noted that net/http cannot splice to it.
func clientSplices(r *http.Request) bool {
	rf, noted := r.Context().Value(spliceProbeKey{}).(bool)
	return rf || !noted
}

// spliceWriter is an h1.SpliceWriter over a client's response writer.
type spliceWriter struct {
	w     http.ResponseWriter // what the handler writes to
	rf    io.ReaderFrom       // where the spliced rest goes: below idle, or w itself
	idle  *caddyhttp.IdleTimeoutWriter
	chunk int64
}

// newSpliceWriter returns where a spliced body for r may go through w, or
// nil when it may not (see above).
func newSpliceWriter(w http.ResponseWriter, r *http.Request) *spliceWriter {
	if r.ProtoMajor != 1 || r.TLS != nil {
		return nil
	}
	_, idle := caddyhttp.IdleTimeoutsFromContext(r.Context())
	if idle == nil {
		if rf, ok := w.(io.ReaderFrom); ok {
			return &spliceWriter{w: w, rf: rf}
		}
		return nil
	}
	if w != http.ResponseWriter(idle) || idle.Deadline.MinRate > 0 || idle.ClearBetweenWrites ||
		idle.ResponseWriterWrapper == nil {
		return nil
	}
	chunk := int64(idle.MaxChunk)
	if chunk <= 0 {
		chunk = caddyhttp.DefaultMaxWriteChunk
	}
	return &spliceWriter{w: w, rf: idle.ResponseWriterWrapper, idle: idle, chunk: chunk}
}

func (s *spliceWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// ReadFrom sends src, an *io.LimitedReader over the backend's socket, in
// chunks each under a fresh idle deadline when there is an idle writer.
func (s *spliceWriter) ReadFrom(src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	if s.idle == nil || !ok {
		return s.rf.ReadFrom(src)
	}
	var total int64
	for lr.N > 0 {
		if err := s.idle.FlushError(); err != nil {
			return total, err
		}
		part := io.LimitedReader{R: lr.R, N: min(lr.N, s.chunk)}
		want := part.N
		n, err := s.rf.ReadFrom(&part)
		total += n
		lr.N -= n
		if err != nil || n < want {
			return total, err // n < want: the backend's stream ended
		}
	}
	return total, nil
}

// Interface guards
var _ h1.SpliceWriter = (*spliceWriter)(nil)
