package smartproxy

import (
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// The transport seam. The proxy core speaks to backends only through an
// http.RoundTripper, so a leaner plain-HTTP/1.1 path can later replace
// Caddy's transport for some backends without touching the rest.

// Transport tuning. Caddy's transport keeps 32 idle connections per backend
// by default; under more concurrency than that it dials and closes
// connections by the thousand per second (measured: bench/run.sh, 64
// connections), so the idle pool is sized well above expected concurrency.
const (
	maxIdleConnsPerHost = 1024
	defaultDialTimeout  = 3 * time.Second
)

// transportKey identifies one provisioned transport: backends that share the
// same timeout and protocol share connections.
type transportKey struct {
	timeout time.Duration
	h2c     bool
}

// transports provisions Caddy HTTP transports on demand during Provision and
// cleans all of them up with the handler.
type transports struct {
	ctx caddy.Context
	m   map[transportKey]*reverseproxy.HTTPTransport
}

func (ts *transports) get(timeout time.Duration, h2c bool) (http.RoundTripper, error) {
	k := transportKey{timeout, h2c}
	if t, ok := ts.m[k]; ok {
		return t, nil
	}
	off := false
	dial := defaultDialTimeout
	if timeout > 0 && timeout < dial {
		dial = timeout
	}
	t := &reverseproxy.HTTPTransport{
		// The proxy must pass bodies through untouched: with compression
		// on, Go's transport would ask for gzip and silently decode it.
		Compression:           &off,
		DialTimeout:           caddy.Duration(dial),
		ResponseHeaderTimeout: caddy.Duration(timeout),
		KeepAlive: &reverseproxy.KeepAlive{
			MaxIdleConnsPerHost: maxIdleConnsPerHost,
		},
	}
	if h2c {
		t.Versions = []string{"h2c", "2"}
	}
	if err := t.Provision(ts.ctx); err != nil {
		return nil, fmt.Errorf("provisioning transport: %v", err)
	}
	if ts.m == nil {
		ts.m = make(map[transportKey]*reverseproxy.HTTPTransport)
	}
	ts.m[k] = t
	return t, nil
}

// cleanup closes every transport's idle connections.
func (ts *transports) cleanup() {
	for _, t := range ts.m {
		_ = t.Cleanup()
	}
}
