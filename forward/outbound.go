package forward

import (
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"
)

// Outbound is the request sent to backends for one client request, with
// the storage it needs. Req is a shallow copy of the client's request with
// its own header map (sharing the client's value slices, which nothing
// downstream writes to), its own URL (see SetTarget) and, when the client
// sent a body, a *Body over it.
//
// An Outbound may be pooled (NewOutbound's pooled) when the transport
// keeps no reference to a request once its response body is done; then a
// proxied request allocates no Request, URL or header map of its own, and
// the caller must Release it after the response.
type Outbound struct {
	Req  http.Request
	url  url.URL
	hdr  http.Header
	fwd  [2]string // X-Forwarded-For and -Host values
	body Body
}

// outboundPool's header maps start with room for 8 fields: up to 8 a Go
// map is one group, which is iterated (validation, writing) and cleared in
// half the time of the table a hint of 16 makes (61 against 102-126 ns to
// walk 4 fields on the bench machine). A request with more fields grows
// its pooled map once, and the map keeps that size while it is reused.
var outboundPool = sync.Pool{New: func() any { return &Outbound{hdr: make(http.Header, 8)} }}

// Release returns a pooled Outbound, dropping every reference it holds.
// Neither o nor its Req may be used afterwards.
func (o *Outbound) Release() {
	o.Req = http.Request{}
	o.url = url.URL{}
	clear(o.hdr)
	o.fwd = [2]string{}
	o.body.r = nil
	o.body.err.Store(nil)
	o.body.trailerIn, o.body.trailerOut = nil, nil
	outboundPool.Put(o)
}

// Shared, never modified header values.
var (
	teTrailers  = []string{"trailers"}
	noUserAgent = []string{""}
)

// NewOutbound makes the request sent to backends from the client's r:
// hop-by-hop headers removed (an Upgrade other than h2c kept as the only
// Connection option), "Te: trailers" kept, X-Forwarded-* set (see
// SetForwarded; trusted says whether r's client is a trusted proxy), the
// Host kept and, when r has a body, a *Body over it with the permitted
// trailers announced. pooled takes the Outbound from a pool (see
// Outbound).
func NewOutbound(r *http.Request, pooled, trusted bool) *Outbound {
	var o *Outbound
	if pooled {
		o = outboundPool.Get().(*Outbound)
	} else {
		o = &Outbound{hdr: make(http.Header, len(r.Header)+4)}
	}
	out := &o.Req
	*out = *r
	// The copy leaves the hop-by-hop fields out (RemoveHopHeaders on it
	// would look up every hop-by-hop name), then drops the options the
	// client's Connection names: the copy holds nothing else yet.
	hdr := o.hdr
	for k, v := range r.Header {
		if !isHopHeader(k) {
			hdr[k] = v
		}
	}
	removeConnectionOptions(hdr, r.Header["Connection"])
	out.Header = hdr
	out.RequestURI = ""
	out.Close = false
	out.URL = &o.url
	if up := UpgradeType(r.Header); up != "" && !IsH2CUpgrade(up) {
		out.Header["Connection"] = []string{"Upgrade"}
		out.Header["Upgrade"] = []string{up}
	}
	// "Te: trailers" is hop-by-hop but says the client accepts trailers;
	// backends (gRPC in particular) need to know.
	if httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers") {
		out.Header["Te"] = teTrailers
	}
	SetForwarded(out.Header, r, trusted, &o.fwd)
	// Go's client would add its own User-Agent when there is none.
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = noUserAgent
	}
	// A request with a known empty body is sent without one (and so needs
	// no replay buffer).
	if r.Body != nil && r.Body != http.NoBody && (r.ContentLength != 0 || len(r.TransferEncoding) > 0) {
		o.body.r = r.Body
		out.Body = &o.body
		out.Trailer = nil
		if len(r.Trailer) > 0 {
			out.Trailer = PermittedTrailers(r.Trailer)
			o.body.trailerIn, o.body.trailerOut = r.Trailer, out.Trailer
		}
	} else {
		out.Body = nil
	}
	return o
}

// SetTarget points out, the outbound copy of r, at the backend whose URL
// is target: its scheme and host, its path as a prefix of r's path (but
// for the asterisk form, "*", kept as it is), r's query. An h2c target is
// dialed as plain http.
func SetTarget(out, r *http.Request, target *url.URL) {
	u := out.URL
	*u = url.URL{
		Scheme:   target.Scheme,
		Host:     target.Host,
		Path:     target.Path + r.URL.Path,
		RawQuery: r.URL.RawQuery,
	}
	if u.Scheme == "h2c" {
		u.Scheme = "http"
	}
	if r.URL.Path == "*" {
		// "OPTIONS *" asks about the server, not about a resource under
		// the backend's path: it goes out as it came.
		u.Path = "*"
	}
	if r.URL.RawPath != "" {
		u.RawPath = target.EscapedPath() + r.URL.RawPath
	}
}

// Body is the client's request body as the transport reads it. It
// remembers the first read error, so that a failure of the client's body
// (a malformed chunk, a size limit, a client that vanished mid-upload) is
// told apart from a failure of the backend, whatever the transport makes
// of it. The transport may read it from another goroutine (net/http's
// writes bodies in its own).
//
// With trailers it also forwards the client's permitted trailer fields: at
// the end of the body it copies them from the client's request to the
// outbound one's own map, whose names were announced up front.
type Body struct {
	r                     io.Reader
	err                   atomic.Pointer[error]
	trailerIn, trailerOut http.Header
}

// NewBody returns a Body reading r that, at its end, copies the fields
// named in trailerOut from trailerIn (both may be nil).
func NewBody(r io.Reader, trailerIn, trailerOut http.Header) *Body {
	return &Body{r: r, trailerIn: trailerIn, trailerOut: trailerOut}
}

func (b *Body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.trailerOut != nil {
		b.copyTrailers()
	} else if err != nil && err != io.EOF {
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// copyTrailers fills the announced trailers with the client's values.
func (b *Body) copyTrailers() {
	for k := range b.trailerOut {
		b.trailerOut[k] = b.trailerIn[k]
	}
}

// Close does nothing: a transport closes a request body on every error,
// and the client's body must survive a failed try to be sent again. The
// server closes the real body when the handler returns.
func (*Body) Close() error { return nil }

// Failed returns the body's first read error, or nil.
func (b *Body) Failed() error {
	if p := b.err.Load(); p != nil {
		return *p
	}
	return nil
}
