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

// PolicyWindow is the whole-second window advertised in RateLimit-Policy: the
// time an empty bucket takes to fill, Burst/RequestsPerSecond, rounded up
// (at least 1 s, since the draft has no sub-second windows).
//
// Rounding up keeps the policy a promise: a client that makes at most
// q=Burst requests in any span of w seconds is never refused, however it
// bunches them within the span. The price is that a bucket refilling in under a second (the seed's 100
// rps, burst 10) is advertised as q=10;w=1, below its sustained rate; the
// RateLimit field then tells the client, request by request, how much it may
// really spend.
func (s Settings) PolicyWindow() int64 {
	fill := float64(s.Burst) / s.RequestsPerSecond
	// Forgive float noise such as 3/0.3 = 10.000000000000002.
	w := math.Ceil(fill - 1e-9)
	switch {
	case !(w >= 1):
		return 1
	case w > math.MaxInt64/2:
		return math.MaxInt64 / 2
	}
	return int64(w)
}

// PolicyHeader is the RateLimit-Policy field value for these settings,
// `"default";q=<Burst>;w=<PolicyWindow>`. It builds a new string on each call;
// Limiter.PolicyHeader returns the one computed by New.
func (s Settings) PolicyHeader() string {
	b := make([]byte, 0, 40)
	b = append(b, '"')
	b = append(b, PolicyName...)
	b = append(b, `";q=`...)
	b = strconv.AppendInt(b, int64(s.Burst), 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, s.PolicyWindow(), 10)
	return string(b)
}
