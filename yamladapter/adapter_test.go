package yamladapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/config"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

var update = flag.Bool("update", false, "rewrite the golden .json files from the adapter's output")

// seedFile is the seed's own config, shipped as an example.
const seedFile = "../examples/config.yaml"

// goldenInputs lists every golden input: the files under testdata/golden
// and the seed's example file (whose expected output is seed.json).
func goldenInputs(t testing.TB) map[string]string {
	files, err := filepath.Glob("testdata/golden/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]string{"seed": seedFile}
	for _, f := range files {
		in[strings.TrimSuffix(filepath.Base(f), ".yaml")] = f
	}
	if len(in) < 10 {
		t.Fatalf("only %d golden inputs found", len(in))
	}
	return in
}

func TestGolden(t *testing.T) {
	for name, src := range goldenInputs(t) {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			out, _, err := Adapter{}.Adapt(body, map[string]any{"filename": src})
			if err != nil {
				t.Fatalf("adapt: %v", err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "  "); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			pretty.WriteByte('\n')
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("output differs from %s (run with -update after checking):\n got: %s\nwant: %s", golden, pretty.Bytes(), want)
			}
		})
	}
}

// TestGoldenLoadsInCaddy decodes every output strictly into Caddy's own
// types (caddy.Config, the HTTP app) and each handler into config.Config,
// so a misspelt key anywhere in the generated JSON fails here.
func TestGoldenLoadsInCaddy(t *testing.T) {
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
			if err := caddy.StrictUnmarshalJSON(out, &cfg); err != nil {
				t.Fatalf("caddy.Config: %v", err)
			}
			var app caddyhttp.App
			if err := caddy.StrictUnmarshalJSON(cfg.AppsRaw["http"], &app); err != nil {
				t.Fatalf("http app: %v", err)
			}
			for sname, srv := range app.Servers {
				for _, r := range srv.Routes {
					for _, h := range r.HandlersRaw {
						var name struct {
							Handler string `json:"handler"`
						}
						if err := json.Unmarshal(h, &name); err != nil || name.Handler != "smartproxy" {
							continue // another module: Caddy checks it
						}
						var hc struct {
							Handler string `json:"handler"`
							config.Config
						}
						if err := caddy.StrictUnmarshalJSON(h, &hc); err != nil {
							t.Fatalf("server %s handler: %v", sname, err)
						}
						if err := hc.Config.Validate(); err != nil {
							t.Errorf("handler config does not validate: %v", err)
						}
					}
				}
			}
		})
	}
}

// TestSeedFile checks the shipped example against the seed's values,
// independently of the golden file.
func TestSeedFile(t *testing.T) {
	body, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := Adapter{}.Adapt(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The seed pairs weight 2 with round_robin, which ignores weights:
	// that, and nothing else, is worth a warning.
	if len(warnings) != 1 || warnings[0].Line != 9 || warnings[0].Directive != "backends[1].weight" ||
		!strings.Contains(warnings[0].Message, "round_robin ignores them") ||
		!strings.Contains(warnings[0].Message, "weighted_round_robin") {
		t.Errorf("the seed's file gives warnings %v, want one about its weights under round_robin at line 9", warnings)
	}
	var got struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	srv := got.Apps.HTTP.Servers[ServerName]
	if len(srv.Listen) != 1 || srv.Listen[0] != ":8080" {
		t.Errorf("listen = %v, want [:8080]", srv.Listen)
	}
	if len(srv.Routes) != 1 || len(srv.Routes[0].Handle) != 1 {
		t.Fatalf("want one route with one handler, got %+v", srv.Routes)
	}
	var h config.Config
	if err := json.Unmarshal(srv.Routes[0].Handle[0], &h); err != nil {
		t.Fatal(err)
	}
	ok := h.Timeout == caddy.Duration(30e9) &&
		len(h.Backends) == 2 &&
		h.Backends[0].URL == "http://localhost:3001" && h.Backends[0].WeightOrDefault() == 1 &&
		h.Backends[1].URL == "http://localhost:3002" && h.Backends[1].WeightOrDefault() == 2 &&
		h.LoadBalancer.AlgorithmOrDefault() == "round_robin" &&
		h.HealthCheck != nil && h.HealthCheck.Interval == caddy.Duration(30e9) &&
		h.HealthCheck.Timeout == caddy.Duration(10e9) && h.HealthCheck.Path == "/health" &&
		h.RateLimit != nil && h.RateLimit.RequestsPerSecond == 100 && h.RateLimit.Burst == 10 &&
		h.Cache != nil && h.Cache.MaxSize == 1000 && h.Cache.TTL == caddy.Duration(300e9)
	if !ok {
		t.Errorf("handler config does not carry the seed's values: %s", srv.Routes[0].Handle[0])
	}
}

func TestRegistered(t *testing.T) {
	a := caddyconfig.GetAdapter("yaml")
	if a == nil {
		t.Fatal(`caddyconfig.GetAdapter("yaml") = nil`)
	}
	if _, ok := a.(Adapter); !ok {
		t.Fatalf("adapter yaml is %T, want yamladapter.Adapter", a)
	}
	out, _, err := a.Adapt([]byte("backends: [{url: 'http://localhost:3001'}]\n"), nil)
	if err != nil || !json.Valid(out) {
		t.Fatalf("adapt through the registry: %v %s", err, out)
	}
}

// TestXYAMLContentTypes checks that the adapter answers to the subtypes
// POST /load derives from application/x-yaml and text/x-yaml.
func TestXYAMLContentTypes(t *testing.T) {
	for _, name := range []string{"yaml", "x-yaml"} {
		if _, ok := caddyconfig.GetAdapter(name).(Adapter); !ok {
			t.Errorf("adapter %q is %T, want this package's", name, caddyconfig.GetAdapter(name))
		}
	}
}

func TestNilAndOtherOptions(t *testing.T) {
	body := []byte("backends:\n  - url: http://localhost:3001\n  - url: http://localhost:3001\n")
	for _, tc := range []struct {
		name     string
		options  map[string]any
		wantFile string
	}{
		{"nil", nil, "config"},
		{"empty", map[string]any{}, "config"},
		{"filename", map[string]any{"filename": "conf/site.yaml"}, "conf/site.yaml"},
		{"filename not a string", map[string]any{"filename": 42}, "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Adapter{}.Adapt(body, tc.options)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if e.File != tc.wantFile || !strings.HasPrefix(err.Error(), tc.wantFile+":3:") {
				t.Errorf("err = %q, want it to start with %q", err, tc.wantFile+":3:")
			}
			out, _, err := Adapter{}.Adapt([]byte("backends: [{url: 'http://a'}]"), tc.options)
			if err != nil || len(out) == 0 {
				t.Errorf("valid input with these options: %v %s", err, out)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	for name, src := range goldenInputs(t) {
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			first, _, err := Adapter{}.Adapt(body, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ {
				again, _, err := Adapter{}.Adapt(body, nil)
				if err != nil || !bytes.Equal(first, again) {
					t.Fatalf("run %d differs: %v\n%s\n%s", i, err, first, again)
				}
			}
		})
	}
}

// TestConcurrent adapts from many goroutines at once (run with -race):
// the adapter must keep no shared mutable state.
func TestConcurrent(t *testing.T) {
	body, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := Adapter{}.Adapt(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 50 {
				got, _, err := Adapter{}.Adapt(body, nil)
				if err == nil && !bytes.Equal(got, want) {
					err = errors.New("different output")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func BenchmarkAdapt(b *testing.B) {
	body, err := os.ReadFile("testdata/golden/sections.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := (Adapter{}).Adapt(body, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := (Adapter{}).Adapt(body, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
