package forward

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Copy buffers are pooled: a 32 KiB buffer per proxied body would otherwise
// be the largest allocation of a request.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

// ErrClientGone marks a failure to write to the client: the client went
// away and there is no one left to tell.
var ErrClientGone = errors.New("writing to client")

// CopyBody streams src to w. When flush is set every chunk is flushed as it
// arrives (server-sent events, bodies of unknown length), so the client sees
// it before the backend finishes. It returns ErrClientGone (joined with the
// cause) when the client could not be written to, or the read error of src.
func CopyBody(w http.ResponseWriter, src io.Reader, flush bool) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
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
