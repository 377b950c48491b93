package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config/fielderr"
)

// The rules of the rate_limit section, its shared (Redis) store and its
// key fallback.

func (r *RateLimit) validate(p string) error {
	if r == nil {
		return nil
	}
	if r.RequestsPerSecond == 0 {
		return errAt(p+".requests_per_second", "required: the refill rate in requests a second, more than 0 (e.g. 100)")
	}
	if !(r.RequestsPerSecond > 0) {
		return errAt(p+".requests_per_second", "%v: must be more than 0", r.RequestsPerSecond)
	}
	if r.Burst == 0 {
		return errAt(p+".burst", "required: the bucket size, how many requests may arrive at once, at least 1 (e.g. 10)")
	}
	if r.Burst < 1 {
		return errAt(p+".burst", "%d: must be at least 1", r.Burst)
	}
	if err := nonNegInt(p, "max_keys", r.MaxKeys); err != nil {
		return err
	}
	if r.Key != "" && r.Global {
		return errAt(p+".key", "%q: a global limit has no key", r.Key)
	}
	if r.IPv6Prefix < 0 || r.IPv6Prefix > 128 {
		return errAt(p+".ipv6_prefix", "%d: must be between 1 and 128 (default 64)", r.IPv6Prefix)
	}
	if r.IPv6Prefix != 0 && (r.Key != "" || r.Global) {
		return errAt(p+".ipv6_prefix", "%d: applies only to the default key, the client IP; unset key and global", r.IPv6Prefix)
	}
	if err := validatePlaceholders(r.Key); err != nil {
		return &Error{Path: p + ".key", Err: err}
	}
	if err := r.validateFallback(p); err != nil {
		return err
	}
	if err := r.Settings().Validate(); err != nil {
		return libError(p, r, err, nil)
	}
	switch r.Store {
	case "", "local":
		if r.Redis != nil {
			return errAt(p+".redis", "set, but store is %q: set store to redis", r.StoreOrDefault())
		}
	case "redis":
		if r.Redis == nil || r.Redis.Address == "" {
			return errAt(p+".redis.address", "required with store redis")
		}
		rp := p + ".redis"
		if len(r.Redis.Addresses) > 0 || r.Redis.MasterName != "" {
			return errAt(rp+".addresses", "the rate limit's store takes one address (addresses and master_name are for cache.shared)")
		}
		if err := firstErr(
			nonNegInt(rp, "db", r.Redis.DB),
			nonNegDur(rp, "dial_timeout", time.Duration(r.Redis.DialTimeout)),
			nonNegDur(rp, "timeout", time.Duration(r.Redis.Timeout)),
			nonNegInt(rp, "lease_size", r.Redis.LeaseSize),
		); err != nil {
			return err
		}
		switch r.Redis.FailurePolicy {
		case "", "fail_open", "fail_closed":
		default:
			return errAt(rp+".failure_policy", "%q: must be fail_open or fail_closed", r.Redis.FailurePolicy)
		}
		rs := r.RedisSettings()
		if strings.Contains(rs.Address, "{") {
			// {env.REDIS_ADDR}: the handler checks the expanded address
			// when it provisions; check the rest with a stand-in.
			rs.Address = "localhost:6379"
		}
		if err := rs.Validate(); err != nil {
			return redisError(p, err, redisKeys)
		}
	default:
		return errAt(p+".store", "%q: must be local or redis", r.Store)
	}
	return nil
}

// StoreOrDefault returns the configured store, local when unset.
func (r *RateLimit) StoreOrDefault() string {
	if r.Store == "" {
		return "local"
	}
	return r.Store
}

// validatePlaceholders checks that every `{` in a placeholder expression is
// closed and that no placeholder is empty.
func validatePlaceholders(s string) error {
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			if depth > 0 {
				return fmt.Errorf("%q: nested { at offset %d", s, i)
			}
			depth, start = 1, i
		case '}':
			if depth == 0 {
				return fmt.Errorf("%q: } without { at offset %d", s, i)
			}
			if i == start+1 {
				return fmt.Errorf("%q: empty placeholder at offset %d", s, start)
			}
			depth = 0
		}
	}
	if depth > 0 {
		return fmt.Errorf("%q: unclosed { at offset %d", s, start)
	}
	return nil
}

// Key fallbacks: what a request whose key expression expands to nothing
// (a placeholder such as a header the request lacks is empty) is keyed by.
const (
	// FallbackClientIP keys it by the client IP, as if no key were set.
	FallbackClientIP = "client_ip"
	// FallbackRefuse refuses it with 400 Bad Request.
	FallbackRefuse = "refuse"
	// FallbackShared puts every such request in one bucket.
	FallbackShared = "shared"
)

// FallbackOrDefault returns the configured key fallback, client_ip when
// unset.
func (r *RateLimit) FallbackOrDefault() string {
	if r.KeyFallback == "" {
		return FallbackClientIP
	}
	return r.KeyFallback
}

func (r *RateLimit) validateFallback(p string) error {
	switch r.KeyFallback {
	case "":
		return nil
	case FallbackClientIP, FallbackRefuse, FallbackShared:
	default:
		msg := fmt.Sprintf("%q: must be %s, %s or %s", r.KeyFallback, FallbackClientIP, FallbackRefuse, FallbackShared)
		if s := Nearest(r.KeyFallback, []string{FallbackClientIP, FallbackRefuse, FallbackShared}); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return &Error{Path: p + ".key_fallback", Err: errors.New(msg)}
	}
	if r.Key == "" || r.Global {
		return errAt(p+".key_fallback", "%q: applies only with a key expression (key), which this limit does not have", r.KeyFallback)
	}
	return nil
}

// redisKeys maps the shared store's settings to their keys: under
// rate_limit for the limit itself, under rate_limit.redis for the store.
var redisKeys = map[string]string{
	"requests_per_second": "requests_per_second",
	"burst":               "burst",
	"max_keys":            "max_keys",
	"address":             "redis.address",
	"db":                  "redis.db",
	"dial_timeout":        "redis.dial_timeout",
	"read_timeout":        "redis.timeout",
	"write_timeout":       "redis.timeout",
	"lease_size":          "redis.lease_size",
	"failure_policy":      "redis.failure_policy",
}

// redisError places an error of a Redis store's validation at its key,
// by keys (redisKeys for the rate limit's store).
func redisError(p string, err error, keys map[string]string) *Error {
	var fe *fielderr.Error
	if errors.As(err, &fe) {
		if k, ok := keys[fe.Field]; ok {
			return &Error{Path: p + "." + k, Err: err}
		}
	}
	return &Error{Path: p + ".redis", Err: err}
}
