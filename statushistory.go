package smartproxy

import (
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
)

// Status history. One sampler per process (held in historySamplers by
// every provisioned handler, stopped when the last one is cleaned up)
// reads, every historyInterval, the counters the request path already
// keeps for each backend (requests, failures: requestTotals; times to
// headers: latencyHist) and turns their differences into points of a ring
// of historyLen: requests per second, error rate, p50 and p99. Nothing on
// the request path changes; a status poll adds one live point (since the
// last sample) and reads the percentiles of the last one to two minutes.
//
// At most historyMaxBackends backends are tracked (about 7 KiB each), the
// first ones met; the others have no history in the status document, so a
// config of 50,000 backends cannot make the sampler hold 350 MB.

const (
	historyInterval    = 10 * time.Second
	historyLen         = 90 // 15 minutes of points
	historyMaxBackends = 1000
	// historyWindow is the least age of the snapshot the status
	// percentiles are taken from: they cover the last 1-2 minutes.
	historyWindow = time.Minute
	// historyMinLive is the shortest interval shown as a live point.
	historyMinLive = 250 * time.Millisecond
)

// historySamplers holds the process's sampler; its last release stops it.
var historySamplers = newShared("history", (*historySampler).stop)

// acquireHistory holds the process's history sampler for a config,
// starting it with the first config.
func acquireHistory(hs *holds) error {
	_, err := historySamplers.acquire(hs, stateKey{route: "*"}, func() (*historySampler, error) {
		s := newHistorySampler(time.Now)
		go s.run(historyInterval)
		return s, nil
	})
	return err
}

// currentHistory returns the running sampler, or nil.
func currentHistory() *historySampler {
	var s *historySampler
	historySamplers.Range(func(_, v any) bool {
		s = v.(held[*historySampler]).v
		return false
	})
	return s
}

// HistoryPoint is one interval of a backend's history: the interval that
// ended at T. Error rate and percentiles are null when no request ended
// (or no response came) in it.
type HistoryPoint struct {
	T                 time.Time `json:"t"`
	RequestsPerSecond float64   `json:"requests_per_second"`
	ErrorRate         *float64  `json:"error_rate"`
	P50MS             *float64  `json:"p50_ms"`
	P99MS             *float64  `json:"p99_ms"`
}

// BackendHistory is a backend's recent history, oldest point first; the
// last point may be live (shorter than IntervalS, up to the document's
// time).
type BackendHistory struct {
	IntervalS float64        `json:"interval_s"`
	Points    []HistoryPoint `json:"points"`
}

// histCounters is what is read of a backend at one moment.
type histCounters struct {
	at                 time.Time
	requests, failures uint64
	hist               histSnap
}

func readCounters(m *member, at time.Time) histCounters {
	c := histCounters{at: at, requests: m.metrics.requests.Load(), failures: m.metrics.failures.Load()}
	if m.metrics.latency != nil {
		m.metrics.latency.snapshot(&c.hist)
	}
	return c
}

// point is the interval from prev to cur.
func point(prev, cur *histCounters) HistoryPoint {
	p := HistoryPoint{T: cur.at}
	secs := cur.at.Sub(prev.at).Seconds()
	reqs := cur.requests - prev.requests
	if secs > 0 {
		p.RequestsPerSecond = float64(reqs) / secs
	}
	if reqs > 0 {
		r := float64(cur.failures-prev.failures) / float64(reqs)
		p.ErrorRate = &r
	}
	if q, _, ok := quantiles(&cur.hist, &prev.hist, 0.5, 0.99); ok {
		p50, p99 := ms(q[0]), ms(q[1])
		p.P50MS, p.P99MS = &p50, &p99
	}
	return p
}

// backendHistory is one tracked backend.
type backendHistory struct {
	ring    [historyLen]HistoryPoint
	n, next int // points held; where the next goes
	last    histCounters
	// anchor and pending are older snapshots: the percentiles cover
	// anchor to now; pending becomes the anchor once a window old.
	anchor, pending histCounters
	seen            uint64 // the sample that last saw the backend
}

func (b *backendHistory) push(p HistoryPoint) {
	b.ring[b.next] = p
	b.next = (b.next + 1) % historyLen
	b.n = min(b.n+1, historyLen)
}

// historySampler keeps the backends' histories.
type historySampler struct {
	now      func() time.Time
	mu       sync.Mutex
	backends map[seriesKey]*backendHistory
	samples  uint64
	quit     chan struct{}
	done     chan struct{}
}

func newHistorySampler(now func() time.Time) *historySampler {
	return &historySampler{now: now, backends: map[seriesKey]*backendHistory{},
		quit: make(chan struct{}), done: make(chan struct{})}
}

// run samples every interval until stop.
func (s *historySampler) run(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			s.sampleSafely()
		}
	}
}

// sampleSafely samples the live routes; a panic is logged (the next tick
// tries again) rather than ending the process.
func (s *historySampler) sampleSafely() {
	defer func() {
		if r := recover(); r != nil {
			caddy.Log().Error("status history: sampling panicked", zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	s.sample(liveRoutes(), s.now())
}

// stop ends run and waits for it; the last holder's release calls it.
func (s *historySampler) stop() error {
	close(s.quit)
	<-s.done
	return nil
}

// track returns k's history, starting it from c when k is new; nil when
// historyMaxBackends are tracked. s.mu is held.
func (s *historySampler) track(k seriesKey, c *histCounters) *backendHistory {
	if b, ok := s.backends[k]; ok {
		return b
	}
	if len(s.backends) >= historyMaxBackends {
		return nil
	}
	b := &backendHistory{last: *c, anchor: *c, pending: *c}
	s.backends[k] = b
	return b
}

// sample adds a point to every tracked backend of routes and forgets the
// backends no route has any more.
func (s *historySampler) sample(routes []*route, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples++
	for _, rt := range routes {
		for _, m := range rt.pool.snap.Load().members {
			c := readCounters(m, now)
			b := s.track(seriesKey{rt.name, m.b.Name}, &c)
			if b == nil {
				continue
			}
			b.seen = s.samples
			if now.Sub(b.last.at) < historyMinLive {
				continue // just started (or polled): no interval yet
			}
			b.push(point(&b.last, &c))
			b.last = c
			if now.Sub(b.pending.at) >= historyWindow {
				b.anchor, b.pending = b.pending, c
			}
		}
	}
	for k, b := range s.backends {
		if b.seen != s.samples {
			delete(s.backends, k)
		}
	}
}

// view returns a backend's history with a live point up to now, and the
// percentiles of its responses since the anchor (nil: none). A
// backend not yet tracked starts being tracked, with no points.
func (s *historySampler) view(route string, m *member, now time.Time) (h *BackendHistory, p50, p99 *float64) {
	c := readCounters(m, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.track(seriesKey{route, m.b.Name}, &c)
	if b == nil {
		return nil, nil, nil
	}
	h = &BackendHistory{IntervalS: historyInterval.Seconds(), Points: make([]HistoryPoint, 0, b.n+1)}
	for i := range b.n {
		h.Points = append(h.Points, b.ring[(b.next-b.n+i+historyLen)%historyLen])
	}
	if now.Sub(b.last.at) >= historyMinLive {
		h.Points = append(h.Points, point(&b.last, &c))
	}
	if q, _, ok := quantiles(&c.hist, &b.anchor.hist, 0.5, 0.99); ok {
		a, z := ms(q[0]), ms(q[1])
		p50, p99 = &a, &z
	}
	return h, p50, p99
}

// addHistory fills bs's history and latency percentiles (status.go).
func addHistory(route string, m *member, now time.Time, bs *BackendStatus) {
	if s := currentHistory(); s != nil {
		bs.History, bs.LatencyP50MS, bs.LatencyP99MS = s.view(route, m, now)
	}
}

// counterValue reads a Prometheus counter (0 if it cannot).
func counterValue(c prometheus.Counter) uint64 {
	if c == nil {
		return 0
	}
	var m dto.Metric
	if c.Write(&m) != nil || m.Counter == nil {
		return 0
	}
	return uint64(m.Counter.GetValue())
}
