package config

import (
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-smartproxy/smartproxy/cache/redistier"
)

// CacheShared is the cache tier several proxy instances share.
type CacheShared struct {
	// Store is where the shared tier lives: `redis`. Required.
	Store string `json:"store,omitempty"`

	// Redis is the Redis the instances share, with the keys of
	// rate_limit.redis (address or addresses, master_name, username,
	// password, db, key_prefix, dial_timeout, tls); the key prefix
	// default is `smartproxy:c:`. Required.
	Redis *RedisStore `json:"redis,omitempty"`

	// MaxEntryBytes is the largest stored response (its record: headers
	// and body) written to Redis; larger ones stay in each instance's
	// memory. Default: 262144 (256 KiB).
	MaxEntryBytes int64 `json:"max_entry_bytes,omitempty"`

	// Timeout bounds every Redis call a request waits on; past it the
	// request goes on without the shared tier, and Redis counts as down
	// until it answers a probe again (a request then does not wait for
	// it at all). Default: 100ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// LockTimeout is how long an instance that is fetching a URL holds
	// its fleet-wide fill lock, and the longest other instances wait for
	// that fill before fetching themselves. Default: 5s.
	LockTimeout caddy.Duration `json:"lock_timeout,omitempty"`
}

func (s *CacheShared) validate(p string) error {
	if s == nil {
		return nil
	}
	if err := sharedRedis(p, s.Store, s.Redis, "the cache goes on without Redis"); err != nil {
		return err
	}
	rp := p + ".redis"
	r := s.Redis
	if r.Timeout != 0 {
		return errAt(rp+".timeout", "%v: the shared cache's timeout is shared.timeout", time.Duration(r.Timeout))
	}
	if err := firstErr(
		nonNegInt(rp, "db", r.DB),
		nonNegDur(rp, "dial_timeout", time.Duration(r.DialTimeout)),
		nonNegDur(p, "timeout", time.Duration(s.Timeout)),
		nonNegDur(p, "lock_timeout", time.Duration(s.LockTimeout)),
	); err != nil {
		return err
	}
	if s.MaxEntryBytes < 0 || s.MaxEntryBytes > redistier.MaxEntryBytesLimit {
		return errAt(p+".max_entry_bytes", "%d: must be 0 (default 262144) to %d", s.MaxEntryBytes, redistier.MaxEntryBytesLimit)
	}
	ts := s.TierSettings()
	for i, a := range ts.Addresses {
		if strings.Contains(a, "{") {
			// {env.REDIS_ADDR}: the handler checks the expanded address.
			ts.Addresses[i] = "localhost:6379"
		}
	}
	if err := ts.Validate(); err != nil {
		k := "address"
		if len(r.Addresses) > 0 {
			k = "addresses"
		}
		return redisError(p, err, map[string]string{"address": "redis." + k, "addresses": "redis." + k, "db": "redis.db",
			"dial_timeout": "redis.dial_timeout", "timeout": "timeout", "lock_timeout": "lock_timeout", "max_entry_bytes": "max_entry_bytes"})
	}
	return nil
}

// TierSettings returns the shared tier's settings as far as the config
// alone decides them: placeholders are not expanded, and TLS and the
// observer are the handler's to add. Call it only when s.Redis is set.
func (s *CacheShared) TierSettings() redistier.Settings {
	r := s.Redis
	addrs := append([]string(nil), r.Addresses...)
	if r.Address != "" {
		addrs = []string{r.Address}
	}
	return redistier.Settings{
		Addresses:     addrs,
		MasterName:    r.MasterName,
		Username:      r.Username,
		Password:      r.Password,
		DB:            r.DB,
		KeyPrefix:     r.KeyPrefix,
		DialTimeout:   time.Duration(r.DialTimeout),
		Timeout:       time.Duration(s.Timeout),
		MaxEntryBytes: int(s.MaxEntryBytes),
		LockTimeout:   time.Duration(s.LockTimeout),
	}
}

// sharedRedis checks what every Redis shared by the instances needs (the
// shared cache, the admin state): store redis, a redis block with an
// address or addresses (and Sentinels for master_name), and none of the
// rate limiter's own keys; without says what happens without Redis.
func sharedRedis(p, store string, r *RedisStore, without string) error {
	switch store {
	case "redis":
	case "":
		return errAt(p+".store", "required: redis")
	default:
		return errAt(p+".store", "%q: must be redis", store)
	}
	if r == nil {
		return errAt(p+".redis", "required with store redis")
	}
	rp := p + ".redis"
	switch {
	case r.Address == "" && len(r.Addresses) == 0:
		return errAt(rp+".address", "required (or addresses)")
	case r.Address != "" && len(r.Addresses) > 0:
		return errAt(rp+".addresses", "%q: set address or addresses, not both", r.Addresses)
	case r.MasterName != "" && len(r.Addresses) == 0:
		return errAt(rp+".master_name", "%q: needs the Sentinels in addresses", r.MasterName)
	case r.LeaseSize != 0:
		return errAt(rp+".lease_size", "%d: applies only to rate_limit.redis", r.LeaseSize)
	case r.FailurePolicy != "":
		return errAt(rp+".failure_policy", "%q: applies only to rate_limit.redis (%s)", r.FailurePolicy, without)
	}
	return nil
}
