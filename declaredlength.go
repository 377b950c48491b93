package smartproxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// errDeclaredLength is the cause of the 400 an HTTP/2 or HTTP/3 request
// gets when its content-length field disagrees with its DATA.
var errDeclaredLength = errors.New("content-length does not match the request's data")

// checkDeclaredLength refuses an HTTP/2 or HTTP/3 request whose
// content-length field is malformed (RFC 9113 §8.1.1): one that does not
// parse, several values, or a value other than the length of the data the
// stream carries. Such a request must not be forwarded, and Go's HTTP/2
// server leaves part of the check to the handler: it refuses DATA beyond
// the declared length or short of it, but it takes an unparsable value
// for 0, keeps only the first of several, and starts the handler before
// the data arrives. A POST with "content-length: 0" (or "5x") and a DATA
// frame went to the backend as a complete "Content-Length: 0" request
// while the client's stream was being reset.
//
// quic-go (HTTP/3) leaves the other half of the check to the handler: a
// stream that ends short of its declared length reads as a clean EOF, and
// the transport's "ContentLength=100 with Body length 5" was taken for the
// backend's fault (a 502 counted by its breaker: four such requests
// opened every breaker of a route) or, through Caddy's HTTP/2 transport,
// went out as a complete request with a short body. The body fails its
// last read instead (declaredBody), the client's fault: a 400.
//
// A request with no content-length field (nearly all of them) costs one
// map lookup. One that declares 0 is read to its end first, so that it is
// forwarded only once its stream ended cleanly with no data; within d
// (the route's timeouts.request_body) when d is set, or the error wraps
// errRequestBodyTimeout.
func checkDeclaredLength(w http.ResponseWriter, r *http.Request, d time.Duration) error {
	if r.ProtoMajor < 2 {
		return nil // HTTP/1's server framed the body by this very field
	}
	vv, ok := r.Header["Content-Length"]
	if !ok {
		return nil
	}
	n, err := strconv.ParseUint(vv[0], 10, 63)
	if len(vv) != 1 || err != nil || (r.ContentLength > 0 && int64(n) != r.ContentLength) {
		return fmt.Errorf("%w: %q", errDeclaredLength, truncate(fmt.Sprint(vv), 64))
	}
	if r.ContentLength > 0 {
		if r.ProtoMajor == 3 {
			// quic-go refuses DATA beyond the length but ends the body
			// with a clean EOF short of it.
			r.Body = &declaredBody{ReadCloser: r.Body, left: r.ContentLength}
		}
		return nil // the server holds the DATA to it
	}
	// Declared 0, or a stream that ended with its HEADERS: it must end
	// with no data, and n must say so.
	if d > 0 {
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(d)) == nil {
			defer rc.SetReadDeadline(time.Time{})
		}
	}
	var one [1]byte
	got, err := io.ReadFull(r.Body, one[:])
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: the stream declared content-length 0 and did not end", errRequestBodyTimeout)
	}
	if got != 0 || err != io.EOF || n != 0 {
		return fmt.Errorf("%w: %q, %d bytes of data", errDeclaredLength, truncate(vv[0], 64), got)
	}
	return nil
}

// declaredBody is an HTTP/3 request body with a declared length: a read
// that meets the stream's end short of it fails with errDeclaredLength.
type declaredBody struct {
	io.ReadCloser
	left int64 // declared bytes not read yet
}

func (b *declaredBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = fmt.Errorf("%w: the stream ended %d bytes short", errDeclaredLength, b.left)
	}
	return n, err
}
