package forward

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Copy buffers are pooled, in two sizes. A small one (32 KiB) copies
// streams and bodies that fit in it. A body known to be larger (its
// Content-Length) gets a large one (256 KiB) while fewer than LargeBuffers
// are in use: each read then takes all the backend has sent, and each write
// hands the client's side up to 256 KiB, so a 1 MiB body costs about a
// quarter of the system calls (and of the wake-ups of both peers) that
// 32 KiB buffers cost. The budget bounds what slow clients can pin: a copy
// holds its buffer for as long as its client takes to read, so without it
// 10,000 slow downloads would hold 2.5 GiB; past it, copies get small
// buffers and run as fast as before.
const (
	smallBuffer = 32 << 10
	largeBuffer = 256 << 10
	// LargeBuffers is how many large copy buffers may be in use at once
	// (32 MiB in all).
	LargeBuffers = 128
)

var (
	smallPool  = sync.Pool{New: func() any { b := make([]byte, smallBuffer); return &b }}
	largePool  = sync.Pool{New: func() any { b := make([]byte, largeBuffer); return &b }}
	largeInUse atomic.Int32
)

// ErrClientGone marks a failure to write to the client: the client went
// away and there is no one left to tell.
var ErrClientGone = errors.New("writing to client")

// CopyBody streams src to w. size is the body's length when known
// (Content-Length), -1 otherwise; a body longer than a small buffer goes
// through a large one while the budget lasts (see above). When flush is set
// every chunk is flushed as it arrives (server-sent events, bodies of
// unknown length), so the client sees it before the backend finishes; those
// always use a small buffer. It returns ErrClientGone (joined with the
// cause) when the client could not be written to, or the read error of src.
func CopyBody(w http.ResponseWriter, src io.Reader, size int64, flush bool) (int64, error) {
	bp, large := getBuffer(size, flush)
	defer putBuffer(bp, large)
	buf := *bp
	var rc *http.ResponseController
	if flush {
		rc = http.NewResponseController(w)
	}
	var written int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			written += int64(m)
			if werr != nil {
				return written, errors.Join(ErrClientGone, werr)
			}
			if flush {
				if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
					return written, errors.Join(ErrClientGone, ferr)
				}
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			return written, rerr
		}
	}
}

// getBuffer returns a copy buffer for a body of size bytes and whether it
// is a large one, to be given back with putBuffer.
func getBuffer(size int64, flush bool) (*[]byte, bool) {
	if size > smallBuffer && !flush {
		if largeInUse.Add(1) <= LargeBuffers {
			return largePool.Get().(*[]byte), true
		}
		largeInUse.Add(-1)
	}
	return smallPool.Get().(*[]byte), false
}

func putBuffer(bp *[]byte, large bool) {
	if large {
		largePool.Put(bp)
		largeInUse.Add(-1)
		return
	}
	smallPool.Put(bp)
}

// ShouldFlush reports whether a response must reach the client chunk by
// chunk: server-sent events and bodies of unknown length (streams).
func ShouldFlush(resp *http.Response) bool {
	if resp.ContentLength == -1 {
		return true
	}
	ct := resp.Header.Get("Content-Type")
	const sse = "text/event-stream"
	return len(ct) >= len(sse) && strings.EqualFold(ct[:len(sse)], sse)
}
