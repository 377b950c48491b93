package redisstore

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// connBufferSize is the read and write buffer of each pooled connection:
// room for many script replies (about 30 bytes each) and requests, and a
// small fraction of go-redis's default.
const connBufferSize = 4 << 10

// dialer returns the Dialer go-redis uses: TCP with keep-alives, TLS when
// tlsConfig is not nil (ServerName defaulting to the address's host, as
// crypto/tls.Dial does), the whole of it bounded by timeout and by ctx, and
// every connection wrapped in the protocol guard.
func dialer(timeout time.Duration, tlsConfig *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return GuardedDialer(timeout, tlsConfig, GuardLimits{})
}

// GuardedDialer is the dialer of this package's connections for other
// users of Redis in this module (the shared cache tier): TCP with
// keep-alives, TLS when tlsConfig is not nil, bounded by timeout and ctx,
// and every connection read through the protocol guard (guard.go) with
// the bounds lim (zero fields: the script's) on top of the guard's bounds
// on nesting and lines.
func GuardedDialer(timeout time.Duration, tlsConfig *tls.Config, lim GuardLimits) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if tlsConfig == nil {
			return guard(conn, conn, lim), nil
		}
		cfg := tlsConfig
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		return guard(tc, conn, lim), nil
	}
}
