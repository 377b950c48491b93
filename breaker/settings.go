package breaker

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config/fielderr"
)

// ErrInvalidSettings is wrapped by every error Validate and New return, so a
// caller can tell a configuration mistake from any other failure.
var ErrInvalidSettings = errors.New("invalid circuit breaker settings")

// Defaults applied to zero fields of Settings.
const (
	DefaultFailureThreshold = 5
	DefaultWindow           = 10 * time.Second
	DefaultMinRequests      = 20
	DefaultLatencyQuantile  = 0.9
	DefaultBaseBackoff      = time.Second
	DefaultMaxBackoff       = 60 * time.Second
	DefaultJitter           = 0.1
	DefaultHalfOpenRequests = 1
)

// minWindow keeps a window bucket at least a millisecond wide: a shorter
// window holds too few requests to judge a backend by.
const minWindow = windowBuckets * time.Millisecond

// Settings configures a Breaker. The zero value is usable: every zero field
// takes the default its comment states. Settings is read once by New; later
// changes to it have no effect on the Breaker.
type Settings struct {
	// FailureThreshold is the number of consecutive failed requests that
	// trips the breaker. A success resets the count. Default: 5.
	FailureThreshold int

	// ErrorRatio, when above zero, also trips the breaker when the share of
	// failed requests over the rolling Window exceeds it, once the window
	// holds at least MinRequests requests. This catches a backend that fails
	// often but never FailureThreshold times in a row. Default: 0 (off).
	ErrorRatio float64

	// Window is the span of the rolling window that ErrorRatio and
	// LatencyThreshold are judged over. It is kept as 10 buckets of
	// Window/10, so the judged history is between 0.9 and 1.0 times Window.
	// At least 10ms. Default: 10s.
	Window time.Duration

	// MinRequests is the number of requests the window must hold before
	// ErrorRatio or LatencyThreshold may trip the breaker, so that one slow
	// or failed request out of three does not take a backend out.
	// Default: 20.
	MinRequests int

	// LatencyThreshold, when above zero, trips the breaker when the
	// LatencyQuantile quantile of request latencies over the window exceeds
	// it (with at least MinRequests requests in the window). The decision is
	// exact, not estimated: the window counts the requests slower than the
	// threshold. In half-open, a probe slower than the threshold counts as a
	// failed probe, so a backend tripped for slowness is not closed again by
	// slow successes. Default: 0 (off).
	LatencyThreshold time.Duration

	// LatencyQuantile is the quantile, in (0, 1], that LatencyThreshold is
	// compared with (nearest-rank definition: 0.9 trips when more than 10%
	// of the window's requests are slower than the threshold; 1 trips on the
	// slowest). Default: 0.9.
	LatencyQuantile float64

	// BaseBackoff is how long the breaker stays open after its first trip.
	// Each further trip without a close in between doubles it.
	// Default: 1s.
	BaseBackoff time.Duration

	// MaxBackoff caps the doubled backoff (before jitter), so a backend that
	// comes back is tried again within a bounded time. Must not be below
	// BaseBackoff. Default: 60s.
	MaxBackoff time.Duration

	// Jitter spreads open times so breakers of backends that failed together
	// do not probe together: each open time is the backoff multiplied by a
	// random factor in [1-Jitter, 1+Jitter]. At most 1. A negative value
	// turns jitter off. Default: 0.1.
	Jitter float64

	// HalfOpenRequests is how many probe requests a half-open breaker lets
	// through at a time; further requests get ErrTooManyProbes until a probe
	// reports. Default: 1.
	HalfOpenRequests int

	// SuccessThreshold is the number of consecutive successful probes that
	// close a half-open breaker. It may exceed HalfOpenRequests: probes are
	// then admitted in turns. Default: HalfOpenRequests, so that every probe
	// of the first round has to succeed.
	SuccessThreshold int

	// OnStateChange, if set, is told of every state transition with a short
	// human-readable reason. It is called exactly once per transition, in
	// the order the transitions happened, never concurrently with itself and
	// outside the breaker's lock (so it may call the breaker's methods). It
	// runs on the goroutine that made the transition, or on one that is
	// still delivering an earlier transition; it should return quickly.
	OnStateChange func(from, to State, reason string)

	// Now is the clock. Tests set it to move time without sleeping.
	// Default: time.Now.
	Now func() time.Time

	// Rand returns a number in [0, 1) for jitter; it must be safe for
	// concurrent use. Tests set it to pin the jitter factor.
	// Default: math/rand/v2's Float64.
	Rand func() float64
}

// Validate reports the first invalid field, naming it and its value. A zero
// field is valid: it takes its default. Validate does not change s.
func (s Settings) Validate() error {
	switch {
	case s.FailureThreshold < 0:
		return invalid("failure_threshold", "failure_threshold %d is negative", s.FailureThreshold)
	case math.IsNaN(s.ErrorRatio) || s.ErrorRatio < 0 || s.ErrorRatio > 1:
		return invalid("error_ratio", "error_ratio %v is outside [0, 1]", s.ErrorRatio)
	case s.Window < 0:
		return invalid("window", "window %v is negative", s.Window)
	case s.Window > 0 && s.Window < minWindow:
		return invalid("window", "window %v is shorter than %v", s.Window, minWindow)
	case s.MinRequests < 0:
		return invalid("min_requests", "min_requests %d is negative", s.MinRequests)
	case s.LatencyThreshold < 0:
		return invalid("latency_threshold", "latency_threshold %v is negative", s.LatencyThreshold)
	case math.IsNaN(s.LatencyQuantile) || s.LatencyQuantile < 0 || s.LatencyQuantile > 1:
		return invalid("latency_quantile", "latency_quantile %v is outside (0, 1]", s.LatencyQuantile)
	case s.BaseBackoff < 0:
		return invalid("base_backoff", "base_backoff %v is negative", s.BaseBackoff)
	case s.MaxBackoff < 0:
		return invalid("max_backoff", "max_backoff %v is negative", s.MaxBackoff)
	case math.IsNaN(s.Jitter) || s.Jitter > 1:
		return invalid("jitter", "jitter %v is above 1", s.Jitter)
	case s.HalfOpenRequests < 0:
		return invalid("half_open_requests", "half_open_requests %d is negative", s.HalfOpenRequests)
	case s.SuccessThreshold < 0:
		return invalid("success_threshold", "success_threshold %d is negative", s.SuccessThreshold)
	}
	d := s.withDefaults()
	if d.MaxBackoff < d.BaseBackoff {
		return invalid("max_backoff", "max_backoff %v is below base_backoff %v", d.MaxBackoff, d.BaseBackoff)
	}
	return nil
}

// invalid returns a *fielderr.Error for field, whose value is args[0].
func invalid(field, format string, args ...any) error {
	return fielderr.New(field, args[0], fmt.Errorf("%w: "+format, append([]any{ErrInvalidSettings}, args...)...))
}

// withDefaults returns s with every zero field set to its default.
func (s Settings) withDefaults() Settings {
	s.FailureThreshold = cmp.Or(s.FailureThreshold, DefaultFailureThreshold)
	s.Window = cmp.Or(s.Window, DefaultWindow)
	s.MinRequests = cmp.Or(s.MinRequests, DefaultMinRequests)
	s.LatencyQuantile = cmp.Or(s.LatencyQuantile, DefaultLatencyQuantile)
	s.BaseBackoff = cmp.Or(s.BaseBackoff, DefaultBaseBackoff)
	s.MaxBackoff = cmp.Or(s.MaxBackoff, DefaultMaxBackoff)
	switch {
	case s.Jitter == 0:
		s.Jitter = DefaultJitter
	case s.Jitter < 0:
		s.Jitter = 0
	}
	s.HalfOpenRequests = cmp.Or(s.HalfOpenRequests, DefaultHalfOpenRequests)
	s.SuccessThreshold = cmp.Or(s.SuccessThreshold, s.HalfOpenRequests)
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Rand == nil {
		s.Rand = rand.Float64
	}
	return s
}

// windowed reports whether the rolling window is needed at all.
func (s Settings) windowed() bool {
	return s.ErrorRatio > 0 || s.LatencyThreshold > 0
}
