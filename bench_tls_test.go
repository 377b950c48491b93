package smartproxy

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// The handler in front of an https backend on loopback, beside Caddy's
// reverse_proxy with the same TLS settings (trusting the backend's
// certificate through a CA file, HTTP/1.1 and HTTP/2 by ALPN), and with
// the request-shaping features on. Run:
//
//	go test -run '^$' -bench HandlerTLS -benchmem .
func BenchmarkHandlerTLS(b *testing.B) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body1K)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	b.Cleanup(srv.Close)
	ca := filepath.Join(b.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		b.Fatal(err)
	}
	q := strconv.Quote
	b.Run("smartproxy_tls", func(b *testing.B) {
		runHandler(b, provisioned(b, new(Handler), `{"backends":[{"url":`+q(srv.URL)+`}],"tls":{"ca":`+q(ca)+`}}`))
	})
	b.Run("smartproxy_tls_shaped", func(b *testing.B) {
		runHandler(b, provisioned(b, new(Handler), `{"backends":[{"url":`+q(srv.URL)+`}],"tls":{"ca":`+q(ca)+`},
			"host_header":"backend","strip_path_prefix":"/api",
			"headers":{"request":{"set":{"X-Real-IP":"{http.request.remote.host}"},"delete":["Cookie"]},
			           "response":{"set":{"X-Backend":"{http.smartproxy.backend}"}}},
			"timeouts":{"read":"30s","write":"30s"}}`))
	})
	b.Run("caddy_reverse_proxy_tls", func(b *testing.B) {
		runHandler(b, provisioned(b, new(reverseproxy.Handler), `{"upstreams":[{"dial":`+q(srv.Listener.Addr().String())+`}],
			"transport":{"protocol":"http","tls":{"root_ca_pem_files":[`+q(ca)+`]},"versions":["1.1","2"]}}`))
	})
}

// BenchmarkShapingOff is the request-shaping hooks with nothing
// configured, as every request runs them: no work, no allocation.
func BenchmarkShapingOff(b *testing.B) {
	var sh shaping
	r := httptest.NewRequest("GET", "http://example.com/a", nil)
	out := r.Clone(r.Context())
	resp := &http.Response{Header: http.Header{}}
	bk, err := backend.New("http://127.0.0.1:1", 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = sh.sampleMirror(r)
		_ = sh.prepare(r, out)
		sh.atBackend(out, bk)
		sh.respond(r, resp)
	}
}
