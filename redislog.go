package smartproxy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// go-redis's own messages (a pool that failed to dial, a Sentinel that
// failed over, a panic it recovered) go through one process-wide logger
// of its own, which writes to stderr unless redis.SetLogger replaces it.
// Caddy users expect every line in Caddy's logs, so the first config that
// uses Redis (rate_limit.store redis, cache.shared, admin_state) replaces
// it, once per process, with redisLogSink: each message is a warning of
// the logger "http.handlers.smartproxy.redis" of the most recently
// provisioned config that uses Redis (its own log settings apply), or of
// Caddy's default logger once none is left.
//
// Every config's Redis credentials are removed from the messages (go-redis
// names addresses, not passwords, but a server's error text is copied in
// verbatim), as is the userinfo of any URL in them.

// redisLogName is the name, under the handler's logger, of the logger
// that go-redis's messages go to.
const redisLogName = "redis"

var redisLogging struct {
	once sync.Once
	mu   sync.Mutex
	// users are the configs that use Redis, the most recent last.
	users []*redisLogUser
}

// redisLogUser is one config's logger and secrets.
type redisLogUser struct {
	hs      *holds // identifies the config; released with it
	l       *zap.Logger
	secrets []string
}

// logRedisTo sends go-redis's messages to logger (the handler's) named
// redisLogName while the config whose holds are hs lives, and removes
// secrets from every message meanwhile. The config lets go of it with
// its holds (releaseAll).
func logRedisTo(hs *holds, logger *zap.Logger, secrets ...string) {
	redisLogging.once.Do(func() { redis.SetLogger(redisLogSink{}) })
	redisLogging.mu.Lock()
	defer redisLogging.mu.Unlock()
	i := slices.IndexFunc(redisLogging.users, func(u *redisLogUser) bool { return u.hs == hs })
	if i < 0 {
		u := &redisLogUser{hs: hs, l: logger.Named(redisLogName)}
		redisLogging.users = append(redisLogging.users, u)
		hs.onRelease(func() { stopLoggingRedis(hs) })
		i = len(redisLogging.users) - 1
	}
	u := redisLogging.users[i]
	for _, s := range secrets {
		if s != "" && !slices.Contains(u.secrets, s) {
			u.secrets = append(u.secrets, s)
		}
	}
}

// stopLoggingRedis forgets the config whose holds are hs.
func stopLoggingRedis(hs *holds) {
	redisLogging.mu.Lock()
	defer redisLogging.mu.Unlock()
	redisLogging.users = slices.DeleteFunc(redisLogging.users, func(u *redisLogUser) bool { return u.hs == hs })
}

// redisLogSink is go-redis's logger (redis.SetLogger).
type redisLogSink struct{}

// Printf logs one go-redis message as a warning. Rare (go-redis's error
// paths), so the lock and the formatting cost nothing that matters.
func (redisLogSink) Printf(_ context.Context, format string, v ...any) {
	redisLogging.mu.Lock()
	var l *zap.Logger
	var secrets []string
	if n := len(redisLogging.users); n > 0 {
		l = redisLogging.users[n-1].l
	}
	for _, u := range redisLogging.users {
		secrets = append(secrets, u.secrets...)
	}
	redisLogging.mu.Unlock()
	if l == nil {
		l = caddy.Log().Named("http.handlers.smartproxy." + redisLogName)
	}
	if ce := l.Check(zapcore.WarnLevel, "go-redis"); ce != nil {
		msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
		ce.Write(zap.String("message", redactSecrets(msg, secrets)))
	}
}

// redactSecrets is msg with every secret and the userinfo of every URL
// (scheme://user:password@host) replaced by "[redacted]".
func redactSecrets(msg string, secrets []string) string {
	// The longest first, so a secret that contains another goes whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	var b strings.Builder
	for {
		i := strings.Index(msg, "://")
		if i < 0 {
			break
		}
		b.WriteString(msg[:i+3])
		msg = msg[i+3:]
		end := strings.IndexAny(msg, "/ \t\r\n\"'")
		if end < 0 {
			end = len(msg)
		}
		if at := strings.LastIndexByte(msg[:end], '@'); at >= 0 {
			b.WriteString("[redacted]")
			msg = msg[at:]
		}
	}
	b.WriteString(msg)
	return b.String()
}
