package caddytest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// tagsCaddyfile is a Caddyfile whose cache block sets the words of issue
// 18's tags and targets; extra goes inside the cache block.
func tagsCaddyfile(backend, extra string) string {
	return caddyfileSite(fmt.Sprintf(`
		smartproxy {
			to %s
			cache {
				max_size 100
				%s
			}
		}`, backend, extra))
}

// TestCacheTagPurge: responses tagged by Surrogate-Key, Cache-Tag or a
// configured field are purged by tag through the admin API, only those;
// the tag fields do not reach clients unless expose_tags.
func TestCacheTagPurge(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		switch r.URL.Path {
		case "/p1":
			w.Header().Set("Surrogate-Key", "product-1 catalog")
		case "/p2":
			w.Header().Set("Cache-Tag", "product-2,catalog")
		case "/p3":
			w.Header().Set("X-Tags", "product-3")
		}
		io.WriteString(w, r.URL.Path)
	})
	tester := caddytest.NewTester(t)
	tester.InitServer(tagsCaddyfile(b.URL, "tag_headers Surrogate-Key Cache-Tag X-Tags"), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	c := newClient()
	paths := []string{"/p1", "/p2", "/p3", "/plain"}
	for _, p := range paths {
		resp, _ := cacheGet(t, c, p)
		for _, f := range []string{"Surrogate-Key", "Cache-Tag", "X-Tags"} {
			if v := resp.Header.Get(f); v != "" {
				t.Errorf("%s: %s %q reached the client", p, f, v)
			}
		}
	}
	if n := purge(t, `{"tags":["catalog"]}`); n != 2 {
		t.Errorf("purge catalog: %d, want 2", n)
	}
	if n := purge(t, `{"tags":["product-3","nothing"]}`); n != 1 {
		t.Errorf("purge product-3: %d, want 1", n)
	}
	before := b.hits.Load()
	for _, p := range paths {
		cacheGet(t, c, p)
	}
	if got := b.hits.Load() - before; got != 3 {
		t.Errorf("after the purges %d requests reached the backend, want 3 (only /plain stayed stored)", got)
	}
	// "tags" with another selector is refused.
	resp, err := http.Post("http://localhost:2999/smartproxy/cache/purge", "application/json",
		strings.NewReader(`{"tags":["a"],"all":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("tags with all: %d, want 400", resp.StatusCode)
	}
	resp.Body.Close()

	tester.InitServer(tagsCaddyfile(b.URL, "expose_tags"), "caddyfile")
	resp, _ = cacheGet(t, c, "/p1")
	hit, _ := cacheGet(t, c, "/p1")
	if resp.Header.Get("Surrogate-Key") != "product-1 catalog" || hit.Header.Get("Surrogate-Key") != "product-1 catalog" {
		t.Errorf("expose_tags: miss %v, hit %v", resp.Header, hit.Header)
	}
}

// TestCacheTargetedCacheControl_RFC9213: CDN-Cache-Control governs this
// cache over Cache-Control and passes downstream; strip_targets and
// targets work from the Caddyfile.
func TestCacheTargetedCacheControl_RFC9213(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("CDN-Cache-Control", "max-age=300")
		w.Header().Set("X-Edge", "max-age=300")
		io.WriteString(w, "x")
	})
	for _, tt := range []struct {
		extra   string
		stored  bool
		cdnSent bool
	}{
		{"", true, true},
		{"strip_targets", true, false},
		{"targets X-Other", false, true},
	} {
		tester := caddytest.NewTester(t)
		tester.InitServer(tagsCaddyfile(b.URL, tt.extra), "caddyfile")
		if t.Failed() {
			t.FailNow()
		}
		c := newClient()
		path := "/t" + strings.ReplaceAll(tt.extra, " ", "-")
		resp, _ := cacheGet(t, c, path)
		hit, _ := cacheGet(t, c, path)
		if stored := strings.Contains(hit.Header.Get("Cache-Status"), "hit"); stored != tt.stored {
			t.Errorf("%q: second GET Cache-Status %q, want stored %v", tt.extra, hit.Header.Get("Cache-Status"), tt.stored)
		}
		if sent := resp.Header.Get("CDN-Cache-Control") == "max-age=300"; sent != tt.cdnSent {
			t.Errorf("%q: CDN-Cache-Control downstream %q", tt.extra, resp.Header.Get("CDN-Cache-Control"))
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%q: Cache-Control changed to %q", tt.extra, resp.Header.Get("Cache-Control"))
		}
	}
}

// TestCacheConfigWords: issue 18's cache keys mean the same in the
// Caddyfile (subdirectives named as the JSON keys, heuristic a block) and
// in the YAML file, and reach the running config.
func TestCacheConfigWords(t *testing.T) {
	b := newBackend(t, "b", nil)
	// The admin API sorts keys: each must be there.
	want := []string{`"stale_while_revalidate":30000000000`, `"tag_headers":["Surrogate-Key","X-Tags"]`,
		`"expose_tags":true`, `"targets":["CDN-Cache-Control","X-Edge"]`, `"strip_targets":true`,
		`"heuristic":{"fraction":0.1,"max":3600000000000}`}
	tester := caddytest.NewTester(t)
	tester.InitServer(tagsCaddyfile(b.URL, `stale_while_revalidate 30s
				tag_headers Surrogate-Key X-Tags
				expose_tags
				targets CDN-Cache-Control X-Edge
				strip_targets
				heuristic {
					fraction 0.1
					max 1h
				}`), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	hasAll(t, "Caddyfile", runningConfig(t), want)
	code, msg := postYAML(t, fmt.Sprintf(`server:
  port: 9080
  host: 127.0.0.1
admin: localhost:2999
logging: error
backends:
  - url: %s
cache:
  max_size: 100
  stale_while_revalidate: 30s
  tag_headers: [Surrogate-Key, X-Tags]
  expose_tags: true
  targets: [CDN-Cache-Control, X-Edge]
  strip_targets: true
  heuristic:
    fraction: 0.1
    max: 1h
`, b.URL))
	if code != http.StatusOK {
		t.Fatalf("YAML refused: %d %s", code, msg)
	}
	hasAll(t, "YAML", runningConfig(t), want)
	code, msg = postYAML(t, fmt.Sprintf("server:\n  port: 9080\nadmin: localhost:2999\nbackends:\n  - url: %s\ncache:\n  heuristic:\n    fraction: 2\n", b.URL))
	if code == http.StatusOK || !strings.Contains(msg, "cache.heuristic.fraction") {
		t.Errorf("bad heuristic fraction: %d %s", code, msg)
	}
}

func runningConfig(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://localhost:2999/config/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func hasAll(t *testing.T, front, got string, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: running config has no %s in\n%s", front, w, got)
		}
	}
}
