package smartproxy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-smartproxy/smartproxy/forward"
	"github.com/caddy-smartproxy/smartproxy/h1"
)

// A failed try is the backend's fault only when the backend did it: a
// connection it refused or dropped, an answer that was malformed or late.
// A try that failed because of the request (its body broke off or was too
// large, a header no backend may receive) says nothing about the backend:
// counted against it, a handful of such requests would open every
// breaker and mark every backend down for all other clients. Such a try
// gets a 4xx and touches neither breaker nor health.

// statusClientClosed is the customary status (nginx's) of a request whose
// client went away before its answer; no client sees it, logs and metrics
// do.
const statusClientClosed = 499

// clientError is a try that failed because of the request.
type clientError struct {
	status int
	err    error
}

func (e *clientError) Error() string { return e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

// errUpgradeH2C is the cause of the 501 an upgrade request gets on a route
// whose backends speak h2c: HTTP/2 has no Upgrade, and Go's HTTP/2
// client refuses such a request before sending it.
var errUpgradeH2C = errors.New("protocol upgrade (WebSocket) is not possible to h2c backends: HTTP/2 cannot carry it")

// bodyStatus is the status for a request body that could not be read: 413
// when it was over Caddy's request_body limit, 408 when it did not arrive
// within timeouts.request_body, else 400.
func bodyStatus(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	if errors.Is(err, errRequestBodyTimeout) {
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// clientFault returns a *clientError when the failed try err was caused by
// the request, else nil. body is the request body the try read (nil when
// it had none).
func clientFault(err error, body *forward.Body) error {
	if body != nil {
		if berr := body.Failed(); berr != nil {
			return &clientError{bodyStatus(berr), fmt.Errorf("reading request body: %w", berr)}
		}
	}
	var rbe *h1.RequestBodyError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &clientError{http.StatusRequestEntityTooLarge, err}
	case errors.As(err, &rbe), errors.Is(err, h1.ErrInvalidHeader):
		// A body over request_body's limit was caught above (the
		// RequestBodyError unwraps to it).
		return &clientError{http.StatusBadRequest, err}
	}
	// Refusals of Go's HTTP/1 and HTTP/2 clients (Caddy's transport),
	// made before anything was sent; their errors are not exported.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "invalid header field"), strings.Contains(msg, "invalid HTTP header"),
		strings.Contains(msg, "invalid Http-Header"):
		return &clientError{http.StatusBadRequest, err}
	case strings.Contains(msg, "request header list larger than"):
		return &clientError{http.StatusRequestHeaderFieldsTooLarge, err}
	}
	return nil
}

// asStatus returns the caddyhttp.Error for a clientError, or nil.
func asClientStatus(err error) error {
	var ce *clientError
	if errors.As(err, &ce) {
		return caddyhttp.Error(ce.status, ce.err)
	}
	return nil
}
