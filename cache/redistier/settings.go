package redistier

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config/fielderr"
)

// ErrInvalidSettings is wrapped by every error Settings.Validate and New
// return.
var ErrInvalidSettings = errors.New("invalid shared cache settings")

// Defaults applied to zero Settings fields.
const (
	// DefaultKeyPrefix starts every key this package writes.
	DefaultKeyPrefix = "smartproxy:c:"
	// DefaultDialTimeout bounds a connection attempt.
	DefaultDialTimeout = time.Second
	// DefaultTimeout bounds every Redis call a request waits on: a
	// loopback or same-zone Redis answers a 256 KiB HGET in about a
	// millisecond, and a dead one costs a request at most this once
	// before the Client is marked down.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultMaxEntryBytes is the largest record written to Redis.
	DefaultMaxEntryBytes = 256 << 10
	// DefaultLockTimeout is how long a fill lock lives and how long other
	// instances wait for the fill it announces.
	DefaultLockTimeout = 5 * time.Second
	// DefaultProbeInterval is how often a down Client PINGs Redis.
	DefaultProbeInterval = time.Second
	// PassTimeout is how long a URL whose response could not be shared is
	// marked pass: misses for it on every instance go to the backend at
	// once instead of waiting on one another (as the cache's own pass
	// memory does in one instance).
	PassTimeout = 30 * time.Second
	// MaxKeyBytes is the longest cache key shared; longer ones stay local.
	MaxKeyBytes = 4 << 10
	// MaxEntryBytesLimit is the largest MaxEntryBytes accepted.
	MaxEntryBytesLimit = 64 << 20
)

// Settings configures a Client. Addresses is required; every other zero
// field gets the default its comment states.
type Settings struct {
	// Addresses are host:port of the Redis server; several make a
	// Cluster client, and with MasterName they are Sentinels. Required.
	Addresses []string

	// MasterName is the Sentinel master to follow. Default: none (no
	// Sentinel).
	MasterName string

	// Username and Password authenticate to Redis (and to Sentinels).
	// Default: none.
	Username, Password string

	// DB is the database number (not in Cluster mode). Default: 0.
	DB int

	// TLS, when not nil, reaches Redis over TLS; an empty ServerName is
	// taken from each address's host. Default: plain TCP.
	TLS *tls.Config

	// DialTimeout bounds a connection attempt. Default: DefaultDialTimeout.
	DialTimeout time.Duration

	// Timeout bounds every call: the pool wait, the dial a call waits
	// for, the write and the read. Default: DefaultTimeout.
	Timeout time.Duration

	// KeyPrefix starts every key and the purge channel's name. Default:
	// DefaultKeyPrefix.
	KeyPrefix string

	// MaxEntryBytes is the largest record written; the reply guard takes
	// replies up to this plus framing. Default: DefaultMaxEntryBytes.
	MaxEntryBytes int

	// LockTimeout is the fill lock's lifetime and the longest wait for
	// another instance's fill. Default: DefaultLockTimeout.
	LockTimeout time.Duration

	// ProbeInterval is how often a down Client checks whether Redis is
	// back. Default: DefaultProbeInterval.
	ProbeInterval time.Duration

	// OnStateChange, if not nil, is called on every transition: down true
	// with the error that caused it, down false when Redis answers again.
	// Calls are serialised and must return quickly. Default: none.
	OnStateChange func(down bool, err error)
}

// Validate reports the first invalid field, naming it and its value. It
// never changes s.
func (s Settings) Validate() error {
	if len(s.Addresses) == 0 {
		return fielderr.New("addresses", s.Addresses, fmt.Errorf("%w: an address is required", ErrInvalidSettings))
	}
	for _, a := range s.Addresses {
		host, port, err := net.SplitHostPort(a)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			return fielderr.New("address", a, fmt.Errorf("%w: address must be host:port with a port of 1 to 65535, got %q", ErrInvalidSettings, a))
		}
	}
	if s.DB < 0 {
		return fielderr.New("db", s.DB, fmt.Errorf("%w: db must be 0 or more, got %d", ErrInvalidSettings, s.DB))
	}
	if s.MaxEntryBytes < 0 || s.MaxEntryBytes > MaxEntryBytesLimit {
		return fielderr.New("max_entry_bytes", s.MaxEntryBytes, fmt.Errorf("%w: max_entry_bytes must be 0 (default %d) to %d, got %d",
			ErrInvalidSettings, DefaultMaxEntryBytes, MaxEntryBytesLimit, s.MaxEntryBytes))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"dial_timeout", s.DialTimeout}, {"timeout", s.Timeout}, {"lock_timeout", s.LockTimeout}, {"probe_interval", s.ProbeInterval},
	} {
		if d.v < 0 {
			return fielderr.New(d.name, d.v, fmt.Errorf("%w: %s must be 0 (default) or more, got %v", ErrInvalidSettings, d.name, d.v))
		}
	}
	if s.LockTimeout > 0 && s.LockTimeout < time.Millisecond {
		return fielderr.New("lock_timeout", s.LockTimeout, fmt.Errorf("%w: lock_timeout must be at least 1ms, got %v", ErrInvalidSettings, s.LockTimeout))
	}
	return nil
}

// withDefaults returns s with every zero field that has a default set.
func (s Settings) withDefaults() Settings {
	s.KeyPrefix = cmp.Or(s.KeyPrefix, DefaultKeyPrefix)
	s.DialTimeout = cmp.Or(s.DialTimeout, DefaultDialTimeout)
	s.Timeout = cmp.Or(s.Timeout, DefaultTimeout)
	s.MaxEntryBytes = cmp.Or(s.MaxEntryBytes, DefaultMaxEntryBytes)
	s.LockTimeout = cmp.Or(s.LockTimeout, DefaultLockTimeout)
	s.ProbeInterval = cmp.Or(s.ProbeInterval, DefaultProbeInterval)
	return s
}
