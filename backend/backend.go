// Package backend defines the upstream server type that every part of the
// proxy shares: the router's pools, the load-balancing strategies, the health
// checker and the breakers all refer to the same *Backend.
//
// Backends are made in one place, New (the Factory pattern), which validates
// and canonicalises the configured URL, so two spellings of one upstream are
// one backend. A Backend carries only the live load figures that strategies
// read on the hot path (in-flight requests, a latency EWMA); they are atomics
// and never locked.
package backend

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Errors returned by New. They are wrapped with the offending value.
var (
	ErrBadURL    = errors.New("invalid backend url")
	ErrBadWeight = errors.New("invalid backend weight")
)

// Backend is one upstream server. It must not be copied after first use.
type Backend struct {
	// URL is the canonical upstream URL (scheme and host only are used to
	// dial; a path prefix, if configured, is prepended to request paths).
	URL *url.URL
	// Name is the canonical string form of URL; it identifies the backend in
	// logs, metrics labels and the status API.
	Name string
	// HostName is the backend's own name and port (name:port) when URL holds
	// an address found in DNS under that name: the Host that host_header
	// `backend` sends it. "" for a configured backend, whose URL's host is
	// its name.
	HostName string
	// Owner is what the pool that made the backend keeps beside it (its
	// health record, breaker, counters), set once before the backend is
	// shared: a picked backend leads back to it in O(1), with no map
	// lookup, and stays valid while the pool's membership changes.
	Owner any

	// weight is the backend's share for weight-aware strategies; 0 means
	// drained (no new requests). It is the configured weight unless the
	// admin API changed it live (SetWeight); strategies read it in Pick,
	// so it is an atomic.
	weight atomic.Int64
	// inflight counts the requests (and upgraded connections) in flight;
	// its own counter unless ShareInFlight gave it one kept elsewhere.
	inflight *atomic.Int64
	// ewmaNanos holds the latency EWMA in nanoseconds as float64 bits;
	// lastObs the unix-nano time of the last observation (for decay).
	ewmaNanos atomic.Uint64
	lastObs   atomic.Int64
	// availableSince is the unix-nano time the backend last became
	// available (for slow start); 0 means "since forever".
	availableSince atomic.Int64
}

// MaxWeight is the largest weight a backend may have. It keeps the
// strategies' arithmetic (weight × in-flight requests, sums of weights) far
// from overflow whatever a config or an admin request says.
const MaxWeight = 1_000_000

// CheckWeight says what is wrong with a weight ("must be 0 or more"), or
// returns nil: the one rule for weights, used by New, SetWeight, the config
// validator and the admin API.
func CheckWeight(w int) error {
	switch {
	case w < 0:
		return errors.New("must be 0 or more")
	case w > MaxWeight:
		return fmt.Errorf("must be at most %d", MaxWeight)
	}
	return nil
}

// New makes a Backend from a configured URL and weight. The URL must be
// absolute http or https with a host; a missing port is filled from the
// scheme. It is the only constructor of Backend.
func New(rawURL string, weight int) (*Backend, error) {
	u, err := Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if err := CheckWeight(weight); err != nil {
		return nil, fmt.Errorf("%w %d: %v", ErrBadWeight, weight, err)
	}
	b := &Backend{URL: u, Name: u.String(), inflight: new(atomic.Int64)}
	b.weight.Store(int64(weight))
	return b, nil
}

// Weight reports the backend's weight: its share for weight-aware
// strategies; 0 means drained (no new requests).
func (b *Backend) Weight() int { return int(b.weight.Load()) }

// SetWeight changes the weight live (the admin API's weight). Strategies
// that precompute shares (weighted round robin, the hash ring, the alias
// table of random) see it when their pool next rebuilds its snapshot, so
// the caller rebuilds; the others see it at their next Pick. A negative
// weight CheckWeight refuses is refused with ErrBadWeight.
func (b *Backend) SetWeight(w int) error {
	if err := CheckWeight(w); err != nil {
		return fmt.Errorf("%w %d: %v", ErrBadWeight, w, err)
	}
	b.weight.Store(int64(w))
	return nil
}

// Parse validates and canonicalises a backend URL without making a Backend.
// Configuration validators use it so that they agree with New.
func Parse(rawURL string) (*url.URL, error) {
	s := strings.TrimSpace(rawURL)
	if s == "" {
		return nil, fmt.Errorf("%w %q: empty", ErrBadURL, rawURL)
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadURL, rawURL, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "h2c" {
		return nil, fmt.Errorf("%w %q: scheme must be http, https or h2c", ErrBadURL, rawURL)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w %q: missing host", ErrBadURL, rawURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w %q: user info, query and fragment are not allowed", ErrBadURL, rawURL)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, fmt.Errorf("%w %q: port %q must be 1-65535", ErrBadURL, rawURL, port)
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") && !strings.HasPrefix(u.Host, "[") {
		return nil, fmt.Errorf("%w %q: an IPv6 address must be written in brackets, as in http://[::1]:8080", ErrBadURL, rawURL)
	}
	u.Host = net.JoinHostPort(host, port)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	// The canonical form must itself be a valid backend URL (Parse is
	// idempotent); anything else is a host the url package only half
	// understood.
	if _, err := url.Parse(u.String()); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadURL, rawURL, err)
	}
	return u, nil
}

// Acquire records the start of a request to b. Every Acquire must be paired
// with exactly one Release, when the response body is done or the upgraded
// connection closes.
func (b *Backend) Acquire() { b.inflight.Add(1) }

// Release records the end of a request to b.
func (b *Backend) Release() { b.inflight.Add(-1) }

// InFlight reports the number of requests to b that have not finished.
func (b *Backend) InFlight() int64 { return b.inflight.Load() }

// ShareInFlight makes b count its requests in flight in c, a counter that
// other Backends of the same upstream share: the proxy keeps one per route
// and backend across config reloads, so a WebSocket opened under the last
// config still counts (for least_connections and the status) under the
// next. Call it before b is used.
func (b *Backend) ShareInFlight(c *atomic.Int64) { b.inflight = c }

// ewmaDecay is the time constant of the latency EWMA: an observation's
// weight falls to 1/e after this long without newer ones.
const ewmaDecay = 10 * time.Second

// ObserveLatency folds one response time into the backend's latency EWMA.
// The EWMA is time-decayed, so a past slow streak fades even if the backend
// receives little traffic. now is passed in so tests control time.
func (b *Backend) ObserveLatency(d time.Duration, now time.Time) {
	t := now.UnixNano()
	for {
		oldBits := b.ewmaNanos.Load()
		last := b.lastObs.Load()
		old := math.Float64frombits(oldBits)
		var next float64
		if last == 0 {
			next = float64(d)
		} else {
			dt := float64(t - last)
			if dt < 0 {
				dt = 0
			}
			w := math.Exp(-dt / float64(ewmaDecay))
			next = old*w + float64(d)*(1-w)
			// Peak sensitivity: a slower observation counts at once, so a
			// backend that turns slow is avoided quickly.
			if float64(d) > next {
				next = float64(d)
			}
		}
		if b.ewmaNanos.CompareAndSwap(oldBits, math.Float64bits(next)) {
			b.lastObs.Store(t)
			return
		}
	}
}

// Latency reports the latency EWMA as of now, decayed towards zero for the
// time since the last observation; 0 when nothing was observed.
func (b *Backend) Latency(now time.Time) time.Duration {
	last := b.lastObs.Load()
	if last == 0 {
		return 0
	}
	v := math.Float64frombits(b.ewmaNanos.Load())
	if dt := float64(now.UnixNano() - last); dt > 0 {
		v *= math.Exp(-dt / float64(ewmaDecay))
	}
	return time.Duration(v)
}

// MarkAvailable records that b became available at t (slow start measures
// its ramp from here). A zero t means available since forever.
func (b *Backend) MarkAvailable(t time.Time) {
	if t.IsZero() {
		b.availableSince.Store(0)
		return
	}
	b.availableSince.Store(t.UnixNano())
}

// AvailableSince reports when b last became available; the zero time if it
// has been available since the pool started.
func (b *Backend) AvailableSince() time.Time {
	n := b.availableSince.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
