package smartproxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"

	"github.com/caddy-smartproxy/smartproxy/forward"
	"github.com/caddy-smartproxy/smartproxy/h1"
)

// Interim responses. A backend's 103 Early Hints (RFC 8297) and 102
// Processing are forwarded to the client before the final response, over
// HTTP/1.1 and HTTP/2, whichever transport carries the request: both h1 and
// Go's transport (inside Caddy's) report each 1xx they read to the
// request's httptrace.ClientTrace.Got1xxResponse, and the hook installed
// here writes it with w.WriteHeader(code). Through the cache, w is the
// cache's recorder, which sends the interim response on and drops its
// fields, so hints are never stored nor merged into the final response.
//
// 100 Continue is not forwarded (the client's own Expect is answered by
// Go's server when the request body is read), nor is any other 1xx; 101 is
// final. An HTTP/1.0 client gets no 1xx at all (RFC 9110 §15.2). Hop-by-hop
// fields of an interim response are dropped. A backend that sends more
// than maxInterim 1xx responses before its final one fails the request
// (502), as h1 does on its own: Go's transport stops counting them once a
// hook sees them.

// maxInterim bounds the 1xx responses one try may send; h1's bound.
const maxInterim = 16

// errTooManyInterim fails a try whose backend sends 1xx without end.
var errTooManyInterim = errors.New("too many 1xx responses")

// interimHook is the Got1xxResponse hook of one client request. Go's
// transport calls it on its read goroutine, so it writes to w only while
// armed: from just before a RoundTrip until it returns, while the
// handler's goroutine waits and touches w not at all.
type interimHook struct {
	trace httptrace.ClientTrace

	mu     sync.Mutex
	w      http.ResponseWriter
	armed  bool
	n      int  // 1xx responses seen in the current try
	direct bool // pooled and handed to h1 (installInterim)
}

// interimKey holds the hook in the context of an outbound request whose
// transport reads it from there.
type interimKey struct{}

// installInterim makes out (the request sent to backends for the client's
// request r, answered through w over transport t) carry the
// interim-response hook, and returns it; nil for an HTTP/1.0 client. For
// the h1 transport the hook is pooled and handed to it directly (see
// roundTripInterim), so the request needs no context of its own: release
// it when the request is done. Any other transport reads it from out's
// context as an httptrace.ClientTrace.
func installInterim(w http.ResponseWriter, r, out *http.Request, t http.RoundTripper) *interimHook {
	if !r.ProtoAtLeast(1, 1) {
		return nil
	}
	if isH1(t) {
		ih := interimPool.Get().(*interimHook)
		ih.w, ih.direct = w, true
		return ih
	}
	ih := &interimHook{w: w}
	ih.trace.Got1xxResponse = ih.got1xx
	ctx := httptrace.WithClientTrace(out.Context(), &ih.trace)
	*out = *out.WithContext(context.WithValue(ctx, interimKey{}, ih))
	return ih
}

// interimPool holds the hooks h1 is handed directly: h1 calls them in the
// request's goroutine only, before its RoundTrip returns, so no reference
// outlives the request.
var interimPool = sync.Pool{New: func() any { return new(interimHook) }}

// release returns a pooled hook; it does nothing to one in a context,
// which Go's transport may still hold.
func (ih *interimHook) release() {
	if ih == nil || !ih.direct {
		return
	}
	ih.w, ih.armed, ih.n = nil, false, 0
	interimPool.Put(ih)
}

// Interim is h1's InterimHandler: the hook, called directly.
func (ih *interimHook) Interim(code int, h http.Header) error {
	return ih.got1xx(code, textproto.MIMEHeader(h))
}

// roundTripInterim is t.RoundTrip(out) with the interim hook ih, if any,
// armed for exactly its duration: no 1xx reaches the client after the
// final response's headers are in hand, nor after a failed try.
func roundTripInterim(t http.RoundTripper, out *http.Request, ih *interimHook) (*http.Response, error) {
	if ih == nil {
		return t.RoundTrip(out)
	}
	ih.mu.Lock()
	ih.armed, ih.n = true, 0
	ih.mu.Unlock()
	var resp *http.Response
	var err error
	if ht, ok := t.(*h1.Transport); ok && ih.direct {
		resp, err = ht.RoundTripInterim(out, ih)
	} else {
		resp, err = t.RoundTrip(out)
	}
	ih.mu.Lock()
	ih.armed = false
	ih.mu.Unlock()
	return resp, err
}

// got1xx forwards a 103 or 102 to the client with its own fields (less
// hop-by-hop ones), then puts the client's header map back as it was.
func (ih *interimHook) got1xx(code int, h textproto.MIMEHeader) error {
	ih.mu.Lock()
	defer ih.mu.Unlock()
	ih.n++
	if ih.n > maxInterim {
		return errTooManyInterim
	}
	if !ih.armed || (code != http.StatusEarlyHints && code != http.StatusProcessing) {
		return nil
	}
	fields := http.Header(h).Clone()
	forward.RemoveHopHeaders(fields)
	forward.DropInvalidNames(fields) // h1 dropped them already; Caddy's transport keeps them
	wh := ih.w.Header()
	saved := make(http.Header, len(fields))
	for k, v := range fields {
		if old, ok := wh[k]; ok {
			saved[k] = old
		}
		wh[k] = v
	}
	ih.w.WriteHeader(code)
	for k := range fields {
		delete(wh, k)
	}
	for k, v := range saved {
		wh[k] = v
	}
	return nil
}
