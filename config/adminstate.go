package config

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"time"
)

// AdminState shares the runtime backend state that the admin API sets
// (drain, maint, ready, live weights) among several proxy instances: a
// change made through one instance is stored in Redis and published, and
// every instance with the same admin_state applies it, reads the stored
// state when it starts and again whenever it reconnects. Only at the top
// level of the handler.
type AdminState struct {
	// Store is where the state is shared: `redis`. Required.
	Store string `json:"store,omitempty"`

	// Redis is the Redis the instances share, with the keys of
	// rate_limit.redis (address or addresses, master_name, username,
	// password, db, key_prefix, dial_timeout, timeout, tls); the key
	// prefix default is `smartproxy:a:`, the timeout's 1s. Required.
	Redis *RedisStore `json:"redis,omitempty"`
}

// Defaults of admin_state.redis.
const (
	DefaultAdminStatePrefix  = "smartproxy:a:"
	DefaultAdminStateTimeout = time.Second
)

func (s *AdminState) validate(p string) error {
	if s == nil {
		return nil
	}
	if err := sharedRedis(p, s.Store, s.Redis, "without Redis each instance keeps its own state"); err != nil {
		return err
	}
	rp := p + ".redis"
	r := s.Redis
	for i, a := range s.Addresses() {
		if strings.Contains(a, "{") {
			continue // {env.REDIS_ADDR}: the handler checks the expanded address
		}
		if err := checkHostPort(a); err != nil {
			k := rp + ".address"
			if len(r.Addresses) > 0 {
				k = rp + ".addresses[" + strconv.Itoa(i) + "]"
			}
			return errAt(k, "%q: %v", a, err)
		}
	}
	return firstErr(
		nonNegInt(rp, "db", r.DB),
		nonNegDur(rp, "dial_timeout", time.Duration(r.DialTimeout)),
		nonNegDur(rp, "timeout", time.Duration(r.Timeout)),
	)
}

// Addresses are the Redis addresses as configured (placeholders not
// expanded): address, or addresses.
func (s *AdminState) Addresses() []string {
	if s.Redis.Address != "" {
		return []string{s.Redis.Address}
	}
	return append([]string(nil), s.Redis.Addresses...)
}

// TimeoutOrDefault is redis.timeout, or DefaultAdminStateTimeout.
func (s *AdminState) TimeoutOrDefault() time.Duration {
	if d := time.Duration(s.Redis.Timeout); d > 0 {
		return d
	}
	return DefaultAdminStateTimeout
}

// KeyPrefixOrDefault is redis.key_prefix, or DefaultAdminStatePrefix.
func (s *AdminState) KeyPrefixOrDefault() string {
	if s.Redis.KeyPrefix != "" {
		return s.Redis.KeyPrefix
	}
	return DefaultAdminStatePrefix
}

// checkHostPort checks a host:port address.
func checkHostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	n, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return errors.New("must be host:port with a port of 1 to 65535")
	}
	return nil
}
