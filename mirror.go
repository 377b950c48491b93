package smartproxy

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddy-smartproxy/smartproxy/forward"
)

// Traffic mirroring (shadowing): a sampled request is copied to every
// mirror backend in the background. The client's request never waits for
// a copy: the body (at most max_body_bytes) is read once up front and
// shared, copies run in goroutines bounded by max_in_flight and timeout,
// and their answers are discarded. Cleanup cancels the copies under way
// and waits for their goroutines, so none outlives the config.

// Mirror defaults.
const (
	defaultMirrorMaxBody     = 64 << 10
	defaultMirrorMaxInFlight = 100
	defaultMirrorTimeout     = 5 * time.Second
	// mirrorDrainBytes is the most of a copy's answer read (and thrown
	// away) so its connection can be reused.
	mirrorDrainBytes = 64 << 10
)

// The results of mirror_requests_total.
var mirrorResults = []string{"sent", "failed", "dropped", "too_large"}

// mirror is one route's mirroring.
type mirror struct {
	targets     []mirrorTarget
	strip       string  // the route's strip_path_prefix, as for the primary
	percent     float64 // (0, 100]
	maxBody     int64
	maxInFlight int64
	timeout     time.Duration
	logger      *zap.Logger

	sampled  atomic.Uint64 // requests seen, for even sampling
	inFlight atomic.Int64

	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	mu     sync.Mutex // orders starting copies against close
	closed bool
	wg     sync.WaitGroup

	sent, failed, dropped, tooLarge prometheus.Counter
}

// mirrorTarget is one mirror backend.
type mirrorTarget struct {
	url         *url.URL
	transport   http.RoundTripper
	backendHost string // the Host for it when the policy names the backend; "" keeps the request's
}

// newMirror builds route id's mirroring from its effective section s, or
// nil when s has none.
func (h *Handler) newMirror(id string, s config.Section, sh *shaping) (*mirror, error) {
	mc := s.Mirror
	if mc == nil {
		return nil, nil
	}
	m := &mirror{
		strip:       sh.strip,
		percent:     cmp.Or(mc.Percent, 100),
		maxBody:     cmp.Or(mc.MaxBodyBytes, defaultMirrorMaxBody),
		maxInFlight: cmp.Or(int64(mc.MaxInFlight), defaultMirrorMaxInFlight),
		timeout:     cmp.Or(time.Duration(mc.Timeout), defaultMirrorTimeout),
		logger:      h.logger,
	}
	tm := s.EffectiveTimeouts()
	for i, bc := range mc.Backends {
		b, err := backend.New(bc.URL, 1)
		if err != nil {
			return nil, fmt.Errorf("mirror.backends[%d]: %w", i, err)
		}
		bt := bc.TLS
		if bt == nil {
			bt = s.TLS
		}
		tr, err := h.transports.get(tm, b.URL.Scheme, bt)
		if err != nil {
			return nil, err
		}
		t := mirrorTarget{url: b.URL, transport: tr}
		if s.HostHeader == "backend" || s.HostHeader == "" && b.URL.Scheme == "https" {
			t.backendHost = backendHost(b)
		}
		m.targets = append(m.targets, t)
	}
	initMetrics()
	m.sent = metrics.mirror.WithLabelValues(id, "sent")
	m.failed = metrics.mirror.WithLabelValues(id, "failed")
	m.dropped = metrics.mirror.WithLabelValues(id, "dropped")
	m.tooLarge = metrics.mirror.WithLabelValues(id, "too_large")
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// mirrorBody is what a sampled request's copies share.
type mirrorBody struct {
	body []byte
	has  bool // the request has a body (perhaps empty)
}

// sample decides whether r is copied and, if so, reads its body (when it
// has one) so the copies can send it too; r's body is replaced by one
// that gives the primary the same bytes. nil: r is not mirrored.
func (m *mirror) sample(r *http.Request) *mirrorBody {
	n := m.sampled.Add(1)
	if m.percent < 100 && int64(float64(n)*m.percent/100) == int64(float64(n-1)*m.percent/100) {
		return nil
	}
	if m.inFlight.Load() >= m.maxInFlight {
		m.dropped.Add(float64(len(m.targets)))
		return nil
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return &mirrorBody{}
	}
	if r.ContentLength > m.maxBody {
		m.tooLarge.Add(float64(len(m.targets)))
		return nil
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, m.maxBody+1))
	switch {
	case err != nil:
		// The primary meets the same error, after the same bytes.
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), failingReader{err}), r.Body}
		return nil
	case int64(len(buf)) > m.maxBody:
		m.tooLarge.Add(float64(len(m.targets)))
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return nil
	}
	r.Body = readCloser{bytes.NewReader(buf), r.Body}
	return &mirrorBody{body: buf, has: true}
}

// send starts r's copies: out is the request as the primary gets it (its
// headers changed by the route, X-Forwarded-* set). It copies what it
// needs before it returns, so r and out may be reused at once.
func (m *mirror) send(mb *mirrorBody, r, out *http.Request) {
	hdr := out.Header.Clone()
	hdr["X-Smartproxy-Mirror"] = []string{"1"}
	for i := range m.targets {
		t := &m.targets[i]
		cp := &http.Request{
			Method: out.Method, URL: new(url.URL), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: hdr, Host: out.Host,
		}
		if i < len(m.targets)-1 {
			cp.Header = hdr.Clone() // transports may add to a request's header map
		}
		forward.SetTargetStripped(cp, r, t.url, m.strip)
		if t.backendHost != "" {
			cp.Host = t.backendHost
		}
		if mb.has {
			cp.ContentLength = int64(len(mb.body))
			cp.Body = io.NopCloser(bytes.NewReader(mb.body))
		}
		if !m.start() {
			m.dropped.Inc()
			continue
		}
		m.sent.Inc()
		go m.run(t, cp)
	}
}

// start takes a place for one copy; false when over max_in_flight or
// closed.
func (m *mirror) start() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.inFlight.Add(1) > m.maxInFlight {
		if !m.closed {
			m.inFlight.Add(-1)
		}
		return false
	}
	m.wg.Add(1)
	return true
}

// run sends one copy and discards its answer.
func (m *mirror) run(t *mirrorTarget, cp *http.Request) {
	defer m.wg.Done()
	defer m.inFlight.Add(-1)
	defer func() {
		if v := recover(); v != nil {
			m.failed.Inc()
			m.logger.Error("mirror copy panicked", zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
		}
	}()
	ctx, cancel := context.WithTimeout(m.ctx, m.timeout)
	defer cancel()
	resp, err := t.transport.RoundTrip(cp.WithContext(ctx))
	if err != nil {
		m.failed.Inc()
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, mirrorDrainBytes))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		m.failed.Inc()
	}
}

// close cancels the copies under way and waits for their goroutines; no
// copy starts after it.
func (m *mirror) close() {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// readCloser reads from r and closes c.
type readCloser struct {
	io.Reader
	c io.Closer
}

func (rc readCloser) Close() error { return rc.c.Close() }

// failingReader fails every read with err.
type failingReader struct{ err error }

func (e failingReader) Read([]byte) (int, error) { return 0, e.err }
