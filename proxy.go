package smartproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/http/httpguts"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// errNoBackend is the cause of a 503: the route has no backend that may
// take a request (all unhealthy, tripped or drained).
var errNoBackend = errors.New("no available backend")

// maxTries bounds the backends one request may try; it sizes a stack array
// so that tracking tries does not allocate.
const maxTries = 8

// proxy forwards r to one of rt's backends and streams the answer to w,
// retrying on another backend when the request failed before anything was
// sent.
func (h *Handler) proxy(w http.ResponseWriter, r *http.Request, rt *route) error {
	out := outboundRequest(r)
	var triedBuf [maxTries]*backend.Backend
	tried := triedBuf[:0]
	var lastErr error
	for {
		b := rt.pool.pick(r, tried)
		if b == nil {
			if lastErr != nil {
				return statusError(r, lastErr)
			}
			return caddyhttp.Error(http.StatusServiceUnavailable, errNoBackend)
		}
		tried = append(tried, b)
		err := h.forward(w, r, out, rt, b)
		if err == nil {
			return nil
		}
		lastErr = err
		if !canRetry(r, err) || len(tried) > rt.retries || len(tried) == maxTries {
			return statusError(r, err)
		}
		if c := h.logger.Check(zapcore.DebugLevel, "retrying on another backend"); c != nil {
			c.Write(zap.String("backend", b.Name), zap.Error(err))
		}
	}
}

// forward sends out to b and, when a response arrives, streams it to w. A
// returned error means no response was written; once the response has
// started, failures abort the connection instead (see respond).
func (h *Handler) forward(w http.ResponseWriter, r, out *http.Request, rt *route, b *backend.Backend) error {
	setTarget(out, r, b)
	b.Acquire()
	defer b.Release()
	begin := time.Now()
	resp, err := rt.transport.RoundTrip(out)
	if err != nil {
		return fmt.Errorf("backend %s: %w", b.Name, err)
	}
	// Time to response headers is the backend's latency as strategies
	// (least_latency) and the status API see it.
	now := time.Now()
	b.ObserveLatency(now.Sub(begin), now)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return h.tunnel(w, out, resp)
	}
	return h.respond(w, resp)
}

// canRetry reports whether a failed try may be repeated on another backend:
// only when nothing reached a backend (a dial error), and the client is
// still waiting.
func canRetry(r *http.Request, err error) bool {
	if r.Context().Err() != nil {
		return false
	}
	var de reverseproxy.DialError
	return errors.As(err, &de)
}

// statusError maps a proxying failure to the status the client gets, as a
// caddyhttp.Error so that handle_errors can restyle it.
func statusError(r *http.Request, err error) error {
	if r.Context().Err() != nil || errors.Is(err, context.Canceled) {
		// The client went away; 499 is the customary "client closed
		// request" code and keeps such requests out of 5xx alerts.
		return caddyhttp.Error(499, err)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return caddyhttp.Error(http.StatusGatewayTimeout, err)
	}
	return caddyhttp.Error(http.StatusBadGateway, err)
}

// noCloseBody hides Close from the transport: it closes a request body on
// every error, and the client's body must survive a failed try to be sent
// again. Caddy's server closes the real body when the handler returns.
type noCloseBody struct{ io.Reader }

func (noCloseBody) Close() error { return nil }

// outboundRequest makes the request sent to backends from the client's: a
// shallow copy with its own headers, hop-by-hop headers removed, the
// X-Forwarded-* headers set and the Host kept.
func outboundRequest(r *http.Request) *http.Request {
	out := new(http.Request)
	*out = *r
	out.Header = r.Header.Clone()
	if out.Header == nil {
		out.Header = make(http.Header)
	}
	out.RequestURI = ""
	out.Close = false
	out.URL = new(url.URL)
	removeHopHeaders(out.Header)
	if up := upgradeType(r.Header); up != "" {
		out.Header["Connection"] = []string{"Upgrade"}
		out.Header["Upgrade"] = []string{up}
	}
	// "Te: trailers" is hop-by-hop but says the client accepts trailers;
	// backends (gRPC in particular) need to know.
	if httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers") {
		out.Header["Te"] = []string{"trailers"}
	}
	setForwarded(out.Header, r)
	// Go's client would add its own User-Agent when there is none.
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""}
	}
	if r.Body != nil && r.Body != http.NoBody {
		out.Body = noCloseBody{r.Body}
	}
	return out
}

// setTarget points out at backend b, keeping r's path and query.
func setTarget(out, r *http.Request, b *backend.Backend) {
	u := out.URL
	*u = url.URL{
		Scheme:   b.URL.Scheme,
		Host:     b.URL.Host,
		Path:     b.URL.Path + r.URL.Path,
		RawQuery: r.URL.RawQuery,
	}
	if u.Scheme == "h2c" {
		u.Scheme = "http"
	}
	if r.URL.RawPath != "" {
		u.RawPath = b.URL.Path + r.URL.RawPath
	}
}

// respond streams resp to w. Once the status line is out, a failure cannot
// become an error page: a broken backend aborts the client connection (so
// a truncated body is never taken for a whole one), and a client that went
// away simply ends the copy.
func (h *Handler) respond(w http.ResponseWriter, resp *http.Response) error {
	removeHopHeaders(resp.Header)
	hdr := w.Header()
	for k, vv := range resp.Header {
		hdr[k] = vv
	}
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		hdr["Trailer"] = names
	}
	w.WriteHeader(resp.StatusCode)
	_, err := copyBody(w, resp.Body, shouldFlush(resp))
	if err != nil {
		if errors.Is(err, errClientGone) {
			if c := h.logger.Check(zapcore.DebugLevel, "client went away during response"); c != nil {
				c.Write(zap.Error(err))
			}
			return nil
		}
		if c := h.logger.Check(zapcore.WarnLevel, "backend failed during response body; aborting"); c != nil {
			c.Write(zap.Error(err))
		}
		panic(http.ErrAbortHandler)
	}
	for k, vv := range resp.Trailer {
		hdr[http.TrailerPrefix+k] = vv
	}
	return nil
}

// shouldFlush reports whether a response must reach the client chunk by
// chunk: server-sent events and bodies of unknown length (streams).
func shouldFlush(resp *http.Response) bool {
	if resp.ContentLength == -1 {
		return true
	}
	ct := resp.Header.Get("Content-Type")
	const sse = "text/event-stream"
	return len(ct) >= len(sse) && strings.EqualFold(ct[:len(sse)], sse)
}
