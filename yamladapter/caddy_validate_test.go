package yamladapter

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy" // for the pass-through golden file
)

// stubHandler stands in for the root package's http.handlers.smartproxy
// (which this package cannot import) so that caddy.Validate can provision
// the generated config: it decodes the handler's JSON with the strict
// decoder and runs the shared validation rules, as the real handler does.
type stubHandler struct {
	config.Config
}

func (stubHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.smartproxy", New: func() caddy.Module { return new(stubHandler) }}
}

func (h *stubHandler) Validate() error { return h.Config.Validate() }

// UnmarshalJSON decodes strictly, as the real handler does (jsonconfig.go).
func (h *stubHandler) UnmarshalJSON(b []byte) error { return config.DecodeJSON(b, &h.Config) }

func (stubHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return next.ServeHTTP(w, r)
}

func init() { caddy.RegisterModule(stubHandler{}) }

// TestCaddyValidates runs Caddy's own validation (provisioning every app
// and module without starting a listener) on each smartproxy-format
// golden output.
func TestCaddyValidates(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for name, src := range goldenInputs(t) {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := Adapter{}.Adapt(body, nil)
			if err != nil {
				t.Fatal(err)
			}
			var cfg caddy.Config
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			if err := caddy.Validate(&cfg); err != nil {
				t.Errorf("caddy.Validate: %v", err)
			}
		})
	}
}
