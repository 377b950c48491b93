package balancer

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// Algorithm names accepted by New (Config.Algorithm). They are the words of
// the configuration file's load_balancer.algorithm key.
const (
	RoundRobin         = "round_robin"
	WeightedRoundRobin = "weighted_round_robin"
	LeastConnections   = "least_connections"
	LeastLatency       = "least_latency"
	Random             = "random"
	P2C                = "p2c"
	IPHash             = "ip_hash"
	HeaderHash         = "header_hash"
	URIHash            = "uri_hash"
)

// Errors returned by New. They are wrapped with the offending value.
var (
	ErrUnknownAlgorithm = errors.New("unknown load-balancing algorithm")
	ErrNoHashKey        = errors.New("hash algorithm needs a hash key")
	ErrBadSlowStart     = errors.New("invalid slow start")
)

// Config chooses and tunes a strategy. The zero Config is valid: round robin,
// no slow start, the real clock.
type Config struct {
	// Algorithm is one of Names(). Default: round_robin, the strategy that
	// needs no knowledge of the backends and spreads load evenly.
	Algorithm string

	// HashKey returns the string that ip_hash, header_hash and uri_hash hash
	// (the client IP, a header value, the request URI); the caller decides
	// what it means, this package only hashes it. Required for the hash
	// algorithms, ignored by the others. When it returns "" (no such header,
	// say) the request is placed by round robin instead, so keyless requests
	// still spread rather than piling onto one backend.
	HashKey func(*http.Request) string

	// SlowStart is how long a backend that has just become available
	// (backend.MarkAvailable) takes to ramp up to its full share, from 10% of
	// it, linearly. It applies to every strategy except the hash ones, whose
	// point is that a key stays on its backend. Default: 0, no ramp.
	SlowStart time.Duration

	// Now is the clock used for slow start and latency decay; tests replace
	// it. Default: time.Now.
	Now func() time.Time
}

// Names returns the known algorithm names, sorted. The slice is the caller's.
func Names() []string {
	return []string{
		HeaderHash, IPHash, LeastConnections, LeastLatency,
		P2C, Random, RoundRobin, URIHash, WeightedRoundRobin,
	}
}

// NeedsHashKey reports whether algorithm places requests by Config.HashKey,
// so a caller can tell whether it must supply one.
func NeedsHashKey(algorithm string) bool {
	switch algorithm {
	case IPHash, HeaderHash, URIHash:
		return true
	}
	return false
}

// New returns the strategy cfg names, with cfg's defaults applied. Each call
// returns a fresh Balancer with its own state (counters), so routes do not
// share a rotation.
func New(cfg Config) (Balancer, error) {
	if cfg.Algorithm == "" {
		cfg.Algorithm = RoundRobin
	}
	if !slices.Contains(Names(), cfg.Algorithm) {
		return nil, fmt.Errorf("%w %q: known algorithms are %s",
			ErrUnknownAlgorithm, cfg.Algorithm, strings.Join(Names(), ", "))
	}
	if cfg.SlowStart < 0 {
		return nil, fmt.Errorf("%w %v: must be 0 or more", ErrBadSlowStart, cfg.SlowStart)
	}
	if NeedsHashKey(cfg.Algorithm) && cfg.HashKey == nil {
		return nil, fmt.Errorf("%w: algorithm %q", ErrNoHashKey, cfg.Algorithm)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	rp := ramp{window: cfg.SlowStart, now: cfg.Now}
	switch cfg.Algorithm {
	case RoundRobin:
		return &roundRobin{ramp: rp}, nil
	case WeightedRoundRobin:
		return &weightedRoundRobin{ramp: rp}, nil
	case LeastConnections:
		return &leastConnections{ramp: rp}, nil
	case LeastLatency:
		return &leastLatency{ramp: rp}, nil
	case Random:
		return &weightedRandom{ramp: rp}, nil
	case P2C:
		return &powerOfTwo{ramp: rp}, nil
	default: // the hash algorithms, checked above
		return &consistentHash{key: cfg.HashKey}, nil
	}
}

// live returns the backends of available that may take requests (Weight > 0),
// in order. Build calls it once; a nil result means nothing can be picked.
func live(available []*backend.Backend) []*backend.Backend {
	out := make([]*backend.Backend, 0, len(available))
	for _, b := range available {
		if b != nil && b.Weight() > 0 {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// nonePicker is the Picker over a set where every backend is drained.
type nonePicker struct{}

func (nonePicker) Pick(*http.Request) *backend.Backend { return nil }

// Interface guards
var (
	_ Balancer = (*roundRobin)(nil)
	_ Balancer = (*weightedRoundRobin)(nil)
	_ Balancer = (*leastConnections)(nil)
	_ Balancer = (*leastLatency)(nil)
	_ Balancer = (*weightedRandom)(nil)
	_ Balancer = (*powerOfTwo)(nil)
	_ Balancer = (*consistentHash)(nil)
	_ Picker   = nonePicker{}
)
