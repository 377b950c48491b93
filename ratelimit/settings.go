package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config/fielderr"
)

// ErrInvalidSettings is wrapped by every error Settings.Validate and New
// return, so callers can tell a configuration mistake from anything else.
var ErrInvalidSettings = errors.New("invalid rate limit settings")

// DefaultMaxKeys is the key store bound used when Settings.MaxKeys is 0. Its
// memory is bounded in bytes, whatever clients send, because a key longer
// than MaxKeyBytes is stored as a 16-byte digest. Measured live heap of a
// full store (Go 1.26, linux/amd64, TestStoreBytesPerKey): 93 bytes a key
// for keys of up to 16 bytes (IPv4 addresses, digests of long keys), 101
// for IPv6 /64 networks, 141 for keys of MaxKeyBytes, the most any key
// costs; so at most 13.4 MiB at 100,000 keys, about 9 MiB for IP clients. Small for a proxy, yet
// room for every client of a busy site.
const DefaultMaxKeys = 100_000

// maxMaxKeys bounds MaxKeys so that store indexes fit in an int32.
const maxMaxKeys = math.MaxInt32

// PolicyName is the policy identifier used in both header fields.
const PolicyName = "default"

// Settings configures a Limiter. The zero value is not valid: the rate and
// burst have no sensible defaults and must be chosen by the operator.
type Settings struct {
	// RequestsPerSecond is the rate at which a bucket refills, in tokens
	// (requests) a second. Fractions are allowed: 0.5 admits one request
	// every two seconds once the burst is spent. Required; must be a finite
	// number greater than 0.
	RequestsPerSecond float64

	// Burst is the bucket size: the number of requests a key may make at
	// once after being idle. Required; must be at least 1.
	Burst int

	// MaxKeys bounds how many keys the store holds, each costing at most
	// about 141 bytes (see DefaultMaxKeys). Default: 100000
	// (DefaultMaxKeys). Ignored in Global mode.
	MaxKeys int

	// Global makes one bucket serve every request, whatever its key.
	// Default: false (one bucket per key).
	Global bool

	// Now is the clock Limiter.AllowNow reads. Default: time.Now. Tests and
	// callers that already hold the request time use Limiter.Allow instead.
	Now func() time.Time
}

// Validate reports the first invalid field, naming it and its value. It never
// changes s.
func (s Settings) Validate() error {
	if !(s.RequestsPerSecond > 0) || math.IsInf(s.RequestsPerSecond, 0) {
		return fielderr.New("requests_per_second", s.RequestsPerSecond, fmt.Errorf(
			"%w: requests_per_second must be a finite number greater than 0, got %v", ErrInvalidSettings, s.RequestsPerSecond))
	}
	if s.Burst < 1 {
		return fielderr.New("burst", s.Burst, fmt.Errorf("%w: burst must be at least 1, got %d", ErrInvalidSettings, s.Burst))
	}
	if s.MaxKeys < 0 || s.MaxKeys > maxMaxKeys {
		return fielderr.New("max_keys", s.MaxKeys, fmt.Errorf("%w: max_keys must be between 0 (default %d) and %d, got %d",
			ErrInvalidSettings, DefaultMaxKeys, maxMaxKeys, s.MaxKeys))
	}
	return nil
}

// maxKeys is MaxKeys with its default applied.
func (s Settings) maxKeys() int {
	if s.MaxKeys == 0 {
		return DefaultMaxKeys
	}
	return s.MaxKeys
}

// maxSafeWindow bounds the search for a window the bucket can hold whole
// (an hour), so a very slow rate costs no more than that many steps.
const maxSafeWindow = 3600

// Policy returns the quota q and the window w, in whole seconds, that
// RateLimit-Policy advertises (draft-ietf-httpapi-ratelimit-headers-11,
// section 3.1: q is the quota the policy allocates over a time window of w
// seconds, which must be a whole number of at least 1).
//
// The quota is the bucket's refill over the window, floor(rate × w), never
// its burst: a client that spreads q requests evenly over every w seconds
// is never refused, and the advertised rate q/w is never below half the
// real rate (the seed's 100 rps, burst 10 is q=100;w=1, not the q=10;w=1
// that would tell clients 10 a second).
//
// The window is chosen so that the quota also fits in the bucket (q ≤
// burst) whenever some window allows it: then a client may even send its
// whole quota at once at the start of each window and is still never
// refused. Of those windows the one that advertises the rate best (the
// largest q/w, then the shortest w) wins: 1.5 rps with burst 10 is q=3;w=2.
// When the bucket holds less than a second of rate (burst < rate), no
// whole-second window fits and w is the shortest window that refills at
// least one token (1 s for rates of 1 rps and more, ceil(1/rate) below);
// a client then must not send more than the burst at once, and the
// RateLimit field's r says how many it may send right now.
func (s Settings) Policy() (q, w int64) {
	r := s.RequestsPerSecond
	// Forgive float noise such as 0.3 × 10 = 3.0000000000000004 or
	// 3 / 0.3 = 10.000000000000002.
	const eps = 1e-9
	refill := func(w int64) int64 { return int64(math.Floor(r*float64(w) + eps)) }
	if safe := math.Floor(float64(s.Burst)/r + eps); safe >= 1 {
		best := int64(0)
		for w := int64(1); w <= int64(min(safe, maxSafeWindow)); w++ {
			q := refill(w)
			if q >= 1 && (best == 0 || q*best > refill(best)*w) {
				best = w
			}
		}
		if best > 0 {
			return refill(best), best
		}
	}
	fill := math.Ceil(1/r - eps)
	switch {
	case !(fill >= 1):
		w = 1
	case fill > math.MaxInt64/2:
		w = math.MaxInt64 / 2
	default:
		w = int64(fill)
	}
	return max(refill(w), 1), w
}

// PolicyWindow is the w of Policy, in whole seconds.
func (s Settings) PolicyWindow() int64 {
	_, w := s.Policy()
	return w
}

// PolicyHeader is the RateLimit-Policy field value for these settings,
// `"default";q=<quota>;w=<window>` (see Policy). It builds a new string on
// each call; Limiter.PolicyHeader returns the one computed by New.
func (s Settings) PolicyHeader() string {
	q, w := s.Policy()
	b := make([]byte, 0, 48)
	b = append(b, '"')
	b = append(b, PolicyName...)
	b = append(b, `";q=`...)
	b = strconv.AppendInt(b, q, 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, w, 10)
	return string(b)
}
