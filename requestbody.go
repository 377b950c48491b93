package smartproxy

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// errRequestBodyTimeout is the cause of the 408 a request gets whose body
// did not arrive within timeouts.request_body.
var errRequestBodyTimeout = errors.New("request body not received within timeouts.request_body")

// limitRequestBody bounds the time r's body may take to arrive to d from
// now, through the client connection's read deadline (for HTTP/2, the
// stream's). The deadline is lifted as soon as the body ends, so that it
// cannot cut the connection's reads for anything after it (net/http
// watches the connection for a client that hangs up once the body is
// read), and when the handler returns. It returns the function that
// lifts it, or nil when r has no body or the connection cannot take a
// deadline.
func limitRequestBody(w http.ResponseWriter, r *http.Request, d time.Duration) func() {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return nil
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil
	}
	b := &deadlineBody{ReadCloser: r.Body, rc: rc}
	r.Body = b
	return b.lift
}

// deadlineBody is a request body read under a deadline.
type deadlineBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	lifted atomic.Bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.lift()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = &bodyTimeoutError{err}
		}
	}
	return n, err
}

// lift removes the deadline, once (the handler's return may race with a
// transport's goroutine still reading the body).
func (b *deadlineBody) lift() {
	if b.lifted.CompareAndSwap(false, true) {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
}

// bodyTimeoutError is a body read cut by timeouts.request_body.
type bodyTimeoutError struct{ err error }

func (e *bodyTimeoutError) Error() string {
	return errRequestBodyTimeout.Error() + ": " + e.err.Error()
}
func (e *bodyTimeoutError) Unwrap() []error { return []error{errRequestBodyTimeout, e.err} }
