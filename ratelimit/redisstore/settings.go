package redisstore

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config/fielderr"
	"github.com/caddy-smartproxy/smartproxy/ratelimit"
)

// ErrInvalidSettings is wrapped by every error Settings.Validate and New
// return, so callers can tell a configuration mistake from anything else.
var ErrInvalidSettings = errors.New("invalid redis rate limit settings")

// Defaults applied to zero Settings fields.
const (
	// DefaultKeyPrefix namespaces the bucket keys this package writes.
	DefaultKeyPrefix = "smartproxy:rl:"

	// DefaultDialTimeout bounds a connection attempt. Requests never wait
	// for it (their wait is bounded by ReadTimeout); only the background
	// dial and the recovery probe do.
	DefaultDialTimeout = time.Second

	// DefaultReadTimeout bounds the whole Redis call a request may wait
	// for, and a socket read. A loopback or same-zone Redis answers the
	// script in well under a millisecond; 100 ms is long enough to ride out
	// a hiccup yet short enough that a dead Redis costs a request at most a
	// tenth of a second before the failure policy decides it.
	DefaultReadTimeout = 100 * time.Millisecond

	// DefaultWriteTimeout bounds a socket write; see DefaultReadTimeout.
	DefaultWriteTimeout = 100 * time.Millisecond

	// DefaultLeaseSize caps the tokens one instance takes from Redis at
	// once. The effective size is smaller for small bursts and low rates
	// (see the package doc), so this cap only matters for large limits.
	DefaultLeaseSize = 10

	// DefaultProbeInterval is how often a degraded Store calls Redis to
	// find out whether it is back: one call a second costs Redis nothing,
	// and a recovery is noticed within a second.
	DefaultProbeInterval = time.Second

	// MaxLeaseAge is the longest an instance may serve leased tokens. The
	// over-admission bound grows with it (see the package doc).
	MaxLeaseAge = 100 * time.Millisecond

	// MinLeaseAge is how much of the rate a default lease covers at least:
	// above 1,000 requests/s a default lease holds 10 ms of tokens rather
	// than DefaultLeaseSize, so it lasts 10 ms instead of less. Its share
	// of any one-second window is then at most 1 %.
	MinLeaseAge = 10 * time.Millisecond
)

// FailurePolicy says what Allow does while Redis cannot be reached.
type FailurePolicy string

const (
	// FailOpen decides requests with a local ratelimit.Limiter of the same
	// settings, one per instance, while Redis is unavailable: with N
	// instances the limit is then up to N times looser, but traffic flows.
	FailOpen FailurePolicy = "fail_open"
	// FailClosed refuses every request with ErrUnavailable while Redis is
	// unavailable; the caller answers 503.
	FailClosed FailurePolicy = "fail_closed"
)

// Settings configures a Store. RequestsPerSecond, Burst and Address have no
// defaults; every other zero field gets the default its comment states.
type Settings struct {
	// RequestsPerSecond is the rate at which a bucket refills, as in
	// ratelimit.Settings. Required; a finite number greater than 0.
	RequestsPerSecond float64

	// Burst is the bucket size, as in ratelimit.Settings. Required; at
	// least 1 and at most 1e9, and Burst / RequestsPerSecond at most 1e9
	// seconds, so that the script's microsecond arithmetic stays exact.
	Burst int

	// Global makes one shared bucket serve every request, whatever its
	// key. Default: false (one bucket per key).
	Global bool

	// MaxKeys bounds the keys held locally: leases, and the buckets of the
	// fail_open fallback limiter. A key that finds no room is still decided
	// by Redis, one token per call. Default: ratelimit.DefaultMaxKeys.
	MaxKeys int

	// Address is the Redis server, host:port. Required.
	Address string

	// Username and Password authenticate to Redis (ACL user, or only a
	// password for requirepass). Default: none.
	Username, Password string

	// DB is the Redis database number. Default: 0.
	DB int

	// KeyPrefix is prepended to every bucket key. Limits that must not
	// share buckets (different routes, different rates) need different
	// prefixes. Default: DefaultKeyPrefix.
	KeyPrefix string

	// DialTimeout bounds a connection attempt. Default: DefaultDialTimeout.
	DialTimeout time.Duration

	// ReadTimeout bounds a socket read, the wait for a pooled connection
	// and the whole Redis call a request waits for. Default:
	// DefaultReadTimeout.
	ReadTimeout time.Duration

	// WriteTimeout bounds a socket write. Default: DefaultWriteTimeout.
	WriteTimeout time.Duration

	// TLS, when not nil, is used to reach Redis over TLS; an empty
	// ServerName is taken from Address's host. Default: plain TCP.
	TLS *tls.Config

	// LeaseSize caps how many tokens an instance takes from Redis at once
	// (see Lease); 1 turns leases off, and the shared bucket is exact.
	// Default: DefaultLeaseSize, or MinLeaseAge of rate when that is more.
	LeaseSize int

	// FailurePolicy decides requests while Redis is unavailable. Default:
	// FailOpen.
	FailurePolicy FailurePolicy

	// ProbeInterval is how often a degraded Store checks whether Redis is
	// back. Default: DefaultProbeInterval.
	ProbeInterval time.Duration

	// OnStateChange, if not nil, is called on every transition: with
	// degraded true and the error that caused it when Redis becomes
	// unavailable, with false and nil when it is back. Calls are
	// serialised; the hook must return quickly, since the request (or the
	// probe) that caused the transition waits for it. Default: none.
	OnStateChange func(degraded bool, err error)

	// Now is the clock for lease lifetimes and the fallback limiter. The
	// shared bucket itself runs on the Redis server's clock. Default:
	// time.Now.
	Now func() time.Time
}

// maxBurst and maxFill (seconds, about 31 years) keep the script's
// microsecond arithmetic inside a float64's exact integers.
const (
	maxBurst = 1_000_000_000
	maxFill  = 1e9
)

// Validate reports the first invalid field, naming it and its value. It never
// changes s.
func (s Settings) Validate() error {
	if !(s.RequestsPerSecond > 0) || math.IsInf(s.RequestsPerSecond, 0) {
		return fielderr.New("requests_per_second", s.RequestsPerSecond, fmt.Errorf(
			"%w: requests_per_second must be a finite number greater than 0, got %v", ErrInvalidSettings, s.RequestsPerSecond))
	}
	if s.Burst < 1 || s.Burst > maxBurst {
		return fielderr.New("burst", s.Burst, fmt.Errorf("%w: burst must be between 1 and %d, got %d", ErrInvalidSettings, maxBurst, s.Burst))
	}
	// The script counts microseconds in float64; a refill time below
	// maxFill seconds keeps every value an exact integer.
	if fill := float64(s.Burst) / s.RequestsPerSecond; fill > maxFill {
		return fielderr.New("burst", s.Burst, fmt.Errorf("%w: burst / requests_per_second (the time to refill) must be at most %g s, got %g s",
			ErrInvalidSettings, float64(maxFill), fill))
	}
	if s.MaxKeys < 0 {
		return fielderr.New("max_keys", s.MaxKeys, fmt.Errorf("%w: max_keys must be 0 (default %d) or more, got %d",
			ErrInvalidSettings, ratelimit.DefaultMaxKeys, s.MaxKeys))
	}
	if err := validateAddress(s.Address); err != nil {
		return err
	}
	if s.DB < 0 {
		return fielderr.New("db", s.DB, fmt.Errorf("%w: db must be 0 or more, got %d", ErrInvalidSettings, s.DB))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"dial_timeout", s.DialTimeout},
		{"read_timeout", s.ReadTimeout},
		{"write_timeout", s.WriteTimeout},
		{"probe_interval", s.ProbeInterval},
	} {
		if d.v < 0 {
			return fielderr.New(d.name, d.v, fmt.Errorf("%w: %s must be 0 (default) or more, got %v", ErrInvalidSettings, d.name, d.v))
		}
	}
	if s.LeaseSize < 0 {
		return fielderr.New("lease_size", s.LeaseSize, fmt.Errorf("%w: lease_size must be 0 (default %d) or more, got %d",
			ErrInvalidSettings, DefaultLeaseSize, s.LeaseSize))
	}
	switch s.FailurePolicy {
	case "", FailOpen, FailClosed:
	default:
		return fielderr.New("failure_policy", s.FailurePolicy, fmt.Errorf("%w: failure_policy must be %q or %q, got %q",
			ErrInvalidSettings, FailOpen, FailClosed, s.FailurePolicy))
	}
	return nil
}

// validateAddress checks that addr is host:port with a port in 1..65535.
func validateAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fielderr.New("address", addr, fmt.Errorf("%w: address must be host:port, got %q", ErrInvalidSettings, addr))
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fielderr.New("address", addr, fmt.Errorf("%w: address port must be 1 to 65535, got %q", ErrInvalidSettings, addr))
	}
	return nil
}

// withDefaults returns s with every zero field that has a default set to it.
func (s Settings) withDefaults() Settings {
	s.MaxKeys = cmp.Or(s.MaxKeys, ratelimit.DefaultMaxKeys)
	s.KeyPrefix = cmp.Or(s.KeyPrefix, DefaultKeyPrefix)
	s.DialTimeout = cmp.Or(s.DialTimeout, DefaultDialTimeout)
	s.ReadTimeout = cmp.Or(s.ReadTimeout, DefaultReadTimeout)
	s.WriteTimeout = cmp.Or(s.WriteTimeout, DefaultWriteTimeout)
	if s.LeaseSize == 0 {
		// At least MinLeaseAge of rate (see Lease).
		s.LeaseSize = max(DefaultLeaseSize, int(min(math.Floor(s.RequestsPerSecond*MinLeaseAge.Seconds()), math.MaxInt32)))
	}
	s.FailurePolicy = cmp.Or(s.FailurePolicy, FailOpen)
	s.ProbeInterval = cmp.Or(s.ProbeInterval, DefaultProbeInterval)
	if s.Now == nil {
		s.Now = time.Now
	}
	return s
}

// Lease returns the effective lease size L and lease lifetime D these
// settings give (see the package doc):
//
//	L = max(1, min(cap, Burst/2, floor(RequestsPerSecond × MaxLeaseAge)))
//	D = min(MaxLeaseAge, L / RequestsPerSecond)
//
// where cap is LeaseSize when set, and by default the larger of
// DefaultLeaseSize and MinLeaseAge of rate, so that a fast limit's leases
// are not used up by their own short lifetime before their tokens.
// RequestsPerSecond × D <= L always: the over-admission a lease can cause
// in any window is at most L tokens. Zero fields count as their defaults.
func (s Settings) Lease() (size int, lifetime time.Duration) {
	s = s.withDefaults()
	limit := min(float64(s.Burst/2), math.Floor(s.RequestsPerSecond*MaxLeaseAge.Seconds()))
	size = s.LeaseSize
	if float64(size) > limit {
		size = int(limit)
	}
	size = max(size, 1)
	lifetime = MaxLeaseAge
	if d := time.Duration(float64(size) / s.RequestsPerSecond * float64(time.Second)); d < lifetime {
		lifetime = d
	}
	return size, lifetime
}

// OverAdmission is the most requests these settings can admit, across all
// instances together, in any window of length T beyond what one exact shared
// token bucket admits (Burst + RequestsPerSecond × T): the effective lease
// size L, or 0 when L is 1. Counted from a full bucket that no instance has
// touched yet there is none at all. See the package doc for the derivation.
func (s Settings) OverAdmission() int {
	l, _ := s.Lease()
	if l == 1 {
		// A lease of one token is spent by the request that took it.
		return 0
	}
	return l
}
