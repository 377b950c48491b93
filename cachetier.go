package smartproxy

import (
	"fmt"
	"io"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-smartproxy/smartproxy/cache"
	"github.com/caddy-smartproxy/smartproxy/cache/redistier"
	"github.com/caddy-smartproxy/smartproxy/config"
)

// The shared cache tier (cache.shared): each route's cache gets a
// redistier.Tier, its own scope (server, site, route) on a Redis client
// shared by every route that names the same Redis. Both are kept across
// reloads: the client in its own pool, the tier inside the route's cache
// (caches pool), which lets go of it when the cache goes.

// cacheClients keeps the shared tier's Redis clients across reloads, one
// per Redis and client settings; the last config to let go of one closes
// it (its connections, probe and purge subscription).
var cacheClients = newShared("cache-redis", (*redistier.Client).Close)

// closeCacheTier is the caches pool's destroy: a cache that goes stops
// receiving other instances' purges.
func closeCacheTier(c *cache.Cache) error {
	if t, ok := c.Settings().Tier.(io.Closer); ok {
		return t.Close()
	}
	return nil
}

// newCacheClient gets the shared tier's Redis client for sc from the pool
// (or makes it), held by hs. Placeholders in the addresses and
// credentials ({env.REDIS_PASSWORD}) are expanded here.
func newCacheClient(hs *holds, sc *config.CacheShared, logger *zap.Logger) (*redistier.Client, error) {
	s := sc.TierSettings()
	repl := caddy.NewReplacer()
	for i, a := range s.Addresses {
		s.Addresses[i] = repl.ReplaceAll(a, "")
	}
	s.Username, s.Password = repl.ReplaceAll(s.Username, ""), repl.ReplaceAll(s.Password, "")
	tc, err := redisTLS(sc.Redis.TLS)
	if err != nil {
		return nil, fmt.Errorf("cache.shared.redis: %w", err)
	}
	s.TLS = tc
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("cache.shared: %w", err)
	}
	logRedisTo(hs, logger, s.Password) // go-redis's own messages (redislog.go)
	// Keyed by the whole section, secrets included (never shown): the
	// tier's own settings (max_entry_bytes, timeouts) are the client's.
	return cacheClients.acquire(hs, stateKey{settings: sc}, func() (*redistier.Client, error) {
		logger := logger.With(zap.Strings("redis", s.Addresses))
		s.OnStateChange = func(down bool, err error) {
			if down {
				logger.Warn("shared cache tier unavailable; caches serve from memory and the backends", zap.Error(err))
			} else {
				logger.Info("shared cache tier reachable again; caches share entries")
			}
		}
		return redistier.New(s)
	})
}
