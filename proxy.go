package smartproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/breaker"
	"github.com/caddy-smartproxy/smartproxy/forward"
)

// errNoBackend is the cause of a 503: the route has no backend that may
// take a request (all unhealthy, tripped or drained).
var errNoBackend = errors.New("no available backend")

// errBreakerRefused marks a try that a backend's breaker turned away (open,
// or half-open with its probes taken): nothing was sent, and it does not
// count as a retry.
var errBreakerRefused = errors.New("circuit breaker refused the request")

// maxTries bounds the backends one request may try; it sizes a stack array
// so that tracking tries does not allocate.
const maxTries = 8

// proxy forwards r to one of rt's backends and streams the answer to w.
// A try that reached no backend (dial error, breaker refusal) moves on to
// another backend at once; a request that may be sent again (retries.methods)
// and whose body can be replayed is also retried after a transport failure
// or an answer in retries.on_status, within the route's retry count and
// budget, with backoff between tries.
func (h *Handler) proxy(w http.ResponseWriter, r *http.Request, rt *route, ri *requestInfo) error {
	if rt.h2c && forward.UpgradeType(r.Header) != "" {
		return caddyhttp.Error(http.StatusNotImplemented, errUpgradeH2C)
	}
	rp := rt.retry
	rp.active.Add(1)
	defer rp.active.Add(-1)
	if rt.bodyTimeout > 0 {
		if lift := limitRequestBody(w, r, rt.bodyTimeout); lift != nil {
			defer lift()
		}
	}
	mb := rt.shaping.sampleMirror(r) // issue 17: may read a small body to share with the copies (mirror.go)
	o := forward.NewOutbound(r, rt.pooledOut, trustedProxy(r))
	if rt.pooledOut {
		defer o.Release()
	}
	out := &o.Req
	if err := rt.shaping.prepare(r, out); err != nil { // issue 17: Host, headers (shaping.go)
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	rt.shaping.sendMirror(mb, r, out)             // issue 17: background copies (mirror.go)
	ih := installInterim(w, r, out, rt.transport) // issue 18: forward 103/102 to the client (interim.go)
	defer ih.release()
	var reset func()
	if rp.count > 0 && rp.mayResend(r) {
		var err error
		var held int64
		reset, held, err = forward.ReplayBody(out, r, rp.maxReplay, replayHeld)
		if held > 0 {
			defer replayHeld.Give(held)
		}
		if err != nil {
			return caddyhttp.Error(bodyStatus(err), fmt.Errorf("reading request body: %w", err))
		}
	}
	st := retryState{r: r, rt: rt, logger: h.logger, replayable: reset != nil}
	defer st.done()
	var triedBuf [maxTries]*backend.Backend
	tried := triedBuf[:0]
	var lastErr error
	for {
		b := rt.pool.pick(r, tried)
		if b == nil && rt.caps != nil {
			var err error
			if b, err = rt.caps.await(w, r, rt.pool, tried); err != nil {
				return err
			}
		}
		if b == nil {
			if lastErr != nil && !errors.Is(lastErr, errBreakerRefused) {
				return statusError(r, lastErr)
			}
			rt.metrics.noBackend.Inc()
			return caddyhttp.Error(http.StatusServiceUnavailable, errNoBackend)
		}
		tried = append(tried, b)
		t := h.roundTrip(r, out, rt, b, ri, ih)
		if !st.again(tried, &t) {
			if t.err == nil {
				rt.shaping.respond(r, t.resp) // issue 17: response headers (shaping.go)
				if st := rt.pool.sticky; st != nil && !ri.background {
					st.stamp(r, rt.pool.member(t.b), t.resp) // sticky.go
				}
				return h.deliver(w, r, out, &t)
			}
			err := t.err
			if errors.Is(err, errBreakerRefused) {
				if lastErr == nil {
					// Every backend tried refused (open or half-open
					// with its probes taken): nothing was sent.
					rt.metrics.noBackend.Inc()
					return caddyhttp.Error(http.StatusServiceUnavailable, err)
				}
				err = lastErr // the real failure, not the last refusal
			}
			return statusError(r, err)
		}
		ri.retries = st.retries
		lastErr = t.failure()
		t.close()
		h.debug("retrying on another backend", rt, b, lastErr)
		if reset != nil {
			reset()
		}
	}
}

// try is one attempt at a backend: the backend, acquired (its in-flight
// count includes the request, and its capped slot is held) from the send
// until close, and the outcome.
// A failed try has already been closed by roundTrip, so that a backend
// that failed is not counted busy while the request waits to retry.
type try struct {
	b    *backend.Backend // nil once released, or when never acquired
	gate *capGate         // b's cap, whose slot pick took; nil: none
	resp *http.Response   // nil when err is set
	err  error
}

// close closes the response body and releases the backend; it may be
// called more than once.
func (t *try) close() {
	if t.resp != nil {
		t.resp.Body.Close()
		t.resp = nil
	}
	if t.b != nil {
		t.b.Release()
		t.gate.give()
		t.b, t.gate = nil, nil
	}
}

// failure is why the try is retried: its error, or its answer's status.
func (t *try) failure() error {
	if t.err != nil {
		return t.err
	}
	return fmt.Errorf("backend %s: status %d", t.b.Name, t.resp.StatusCode)
}

// roundTrip sends out to b and records the outcome (breaker, passive
// health, latency). A try with an answer keeps b acquired until it is
// closed (deliver, or the retry loop); a failed one is closed already.
func (h *Handler) roundTrip(r, out *http.Request, rt *route, b *backend.Backend, ri *requestInfo, ih *interimHook) try {
	m := rt.pool.member(b)
	var done breaker.Done
	if m.breaker != nil {
		d, err := m.breaker.Allow()
		if err != nil {
			m.gate.give() // nothing sent: the slot pick took is free again
			return try{err: fmt.Errorf("backend %s: %w: %w", b.Name, errBreakerRefused, err)}
		}
		done = d
	}
	forward.SetTargetStripped(out, r, b.URL, rt.shaping.strip)
	rt.shaping.atBackend(out, b) // issue 17: a Host that names the backend (shaping.go)
	b.Acquire()
	t := try{b: b, gate: m.gate}
	begin := time.Now()
	tr := rt.transportTo(m)
	resp, err := roundTripInterim(tr, out, ih) // issue 18: 1xx hook armed for this try (interim.go)
	// time.Since reads only the monotonic clock, where time.Now reads the
	// wall clock too: one clock read fewer per try (~50 ns on the bench VM).
	latency := time.Since(begin)
	now := begin.Add(latency)
	if err != nil {
		t.close()
		body, _ := out.Body.(*forward.Body)
		if cerr := clientFault(err, body); cerr != nil {
			done.Discard() // the request's fault, not the backend's
			t.err = fmt.Errorf("backend %s: %w", b.Name, cerr)
			return t
		}
		if r.Context().Err() != nil {
			done.Discard() // the client left; not the backend's fault
		} else {
			done.ReportAt(now, false, latency)
			m.metrics.observe(0, latency)
			if m.health != nil {
				m.health.ReportPassive(false, 0)
			}
		}
		t.err = fmt.Errorf("backend %s: %w", b.Name, err)
		return t
	}
	if !isH1(tr) {
		// Caddy's transport reads an HTTP/1.1-over-TLS head with
		// http.ReadResponse, which keeps names that are not tokens; h1
		// drops them on its slow path, and HTTP/2 refuses them.
		forward.DropInvalidNames(resp.Header)
	}
	// Time to response headers is the backend's latency as strategies
	// (least_latency), breakers and the status API see it.
	b.ObserveLatency(latency, now)
	m.metrics.latency.observe(latency) // the status page's percentiles (latencyhist.go)
	m.metrics.observe(resp.StatusCode, latency)
	ri.backend, ri.latency = b.Name, latency
	done.ReportAt(now, resp.StatusCode < 500, latency)
	if m.health != nil {
		m.health.ReportPassive(true, resp.StatusCode)
	}
	t.resp = resp
	return t
}

// deliver streams t's answer to the client and closes t.
func (h *Handler) deliver(w http.ResponseWriter, r, out *http.Request, t *try) error {
	defer t.close()
	if t.resp.StatusCode == http.StatusSwitchingProtocols {
		return h.tunnel(w, out, t.resp, t.b.Owner.(*member).tunnels)
	}
	return h.respond(w, r, t.resp)
}

func (h *Handler) debug(msg string, rt *route, b *backend.Backend, err error) {
	if c := h.logger.Check(zapcore.DebugLevel, msg); c != nil {
		c.Write(zap.String("route", rt.name), zap.String("backend", b.Name), zap.Error(err))
	}
}

// statusError maps a proxying failure to the status the client gets, as a
// caddyhttp.Error so that handle_errors can restyle it.
func statusError(r *http.Request, err error) error {
	if cerr := asClientStatus(err); cerr != nil {
		return cerr
	}
	if r.Context().Err() != nil || errors.Is(err, context.Canceled) {
		// The client went away: not the backend's failure, and kept out
		// of 5xx alerts.
		return caddyhttp.Error(statusClientClosed, err)
	}
	if nothingSent(err) {
		// Every backend tried was unreachable (connection refused or
		// timed out, or its breaker refused): nothing answered, so the
		// service is unavailable, as HAProxy says it.
		return caddyhttp.Error(http.StatusServiceUnavailable, fmt.Errorf("%w: %w", errNoBackend, err))
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return caddyhttp.Error(http.StatusGatewayTimeout, err)
	}
	return caddyhttp.Error(http.StatusBadGateway, err)
}

// respond streams resp to w, the answer to r: spliced when it can be
// (splice.go), else copied. Once the status line is out, a failure cannot
// become an error page: a broken backend aborts the client connection (so
// a truncated body is never taken for a whole one), and a client that went
// away simply ends the copy.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, resp *http.Response) error {
	hdr := w.Header()
	forward.CopyEndToEnd(hdr, resp.Header)
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			if !sendableTrailer(k) {
				delete(resp.Trailer, k)
				continue
			}
			names = append(names, k)
		}
		hdr["Trailer"] = names
	}
	w.WriteHeader(resp.StatusCode)
	err := sendBody(w, r, resp)
	if err != nil {
		if errors.Is(err, forward.ErrClientGone) {
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
		// The body reader may have added fields it was not told of.
		if sendableTrailer(k) {
			hdr[http.TrailerPrefix+k] = vv
		}
	}
	return nil
}
