package smartproxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-smartproxy/smartproxy/discovery"
)

// The whole-handler benchmarks: a real backend on loopback, the handler's
// ServeHTTP called in a loop, allocations reported, beside Caddy's own
// reverse_proxy in the same harness. Run:
//
//	go test -run '^$' -bench Handler -benchmem .

var body1K = strings.Repeat("x", 1024)

func benchBackend(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		io.WriteString(w, body1K)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// provisioned makes a Caddy context and provisions the module m from its
// JSON.
func provisioned[T caddy.Provisioner](b testing.TB, m T, js string) T {
	if err := json.Unmarshal([]byte(js), m); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddyContext(b))
	b.Cleanup(cancel)
	if err := m.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	if c, ok := any(m).(caddy.CleanerUpper); ok {
		b.Cleanup(func() { c.Cleanup() })
	}
	return m
}

// caddyContext runs an empty Caddy config (no admin endpoint, no apps) so
// that modules provisioned outside a config can reach Caddy's apps.
func caddyContext(b testing.TB) caddy.Context {
	if err := caddy.Load([]byte(`{"admin":{"disabled":true},"logging":{"logs":{"default":{"level":"ERROR"}}}}`), true); err != nil {
		b.Fatal(err)
	}
	return caddy.ActiveContext()
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the proxy and not a recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

type nopHandler struct{}

func (nopHandler) ServeHTTP(http.ResponseWriter, *http.Request, caddyhttp.Handler) error { return nil }

func runHandler(b *testing.B, h caddyhttp.MiddlewareHandler) {
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	server := new(caddyhttp.Server)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: make(http.Header)}
		for pb.Next() {
			r := httptest.NewRequest("GET", "http://example.com/", nil)
			repl := caddy.NewReplacer()
			// net/http's server gives every request a context that ends
			// with it: a watcher of it costs what it costs under Caddy.
			cctx, cancel := context.WithCancel(r.Context())
			ctx := context.WithValue(cctx, caddy.ReplacerCtxKey, repl)
			ctx = context.WithValue(ctx, caddyhttp.ServerCtxKey, server)
			ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{
				caddyhttp.ClientIPVarKey: "192.0.2.1", caddyhttp.TrustedProxyVarKey: false})
			r = r.WithContext(ctx)
			clear(w.h)
			err := h.ServeHTTP(w, r, next)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkHandler(b *testing.B) {
	b1, b2 := benchBackend(b), benchBackend(b)
	backends := `[{"url":"` + b1.URL + `"},{"url":"` + b2.URL + `"}]`
	// The harness alone (request, replacer, vars): subtract it from the rows
	// below to get what each handler costs.
	b.Run("harness", func(b *testing.B) {
		runHandler(b, nopHandler{})
	})
	b.Run("smartproxy_rr", func(b *testing.B) {
		runHandler(b, provisioned(b, new(Handler), `{"backends":`+backends+`}`))
	})
	b.Run("smartproxy_full", func(b *testing.B) {
		runHandler(b, provisioned(b, new(Handler), `{"backends":`+backends+`,
			"health_check":{"interval":"1s","timeout":"500ms","path":"/health"},
			"rate_limit":{"requests_per_second":10000000,"burst":10000000},
			"circuit_breaker":{}}`))
	})
	b.Run("smartproxy_discovered", func(b *testing.B) { // the same two backends, found in DNS
		h, _, feed := discoveredHandler(b)
		feed(discovery.Backend{URL: b1.URL, Weight: 1}, discovery.Backend{URL: b2.URL, Weight: 1})
		runHandler(b, h)
	})
	b.Run("smartproxy_cache_hit", func(b *testing.B) {
		runHandler(b, provisioned(b, new(Handler), `{"backends":`+backends+`,"cache":{"max_size":1000,"ttl":"300s"}}`))
	})
	b.Run("caddy_reverse_proxy", func(b *testing.B) {
		ups := `[{"dial":"` + b1.Listener.Addr().String() + `"},{"dial":"` + b2.Listener.Addr().String() + `"}]`
		runHandler(b, provisioned(b, new(reverseproxy.Handler), `{"upstreams":`+ups+`,"load_balancing":{"selection_policy":{"policy":"round_robin"}}}`))
	})
}
