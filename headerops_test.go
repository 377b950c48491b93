package smartproxy

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-smartproxy/smartproxy/config"
)

func TestHeaderOps(t *testing.T) {
	ops := newHeaderOps(&config.HeaderOps{
		Set:    map[string]string{"x-set": "{who}", "X-Const": "c"},
		Add:    map[string]string{"X-Tag": "proxy"},
		Delete: []string{"cookie", "X-Const"},
	})
	repl := caddy.NewReplacer()
	repl.Set("who", "me")
	// The client's value slice has room: an add must not write into it.
	client := make([]string, 1, 4)
	client[0] = "client"
	h := http.Header{"X-Tag": client, "Cookie": {"a=b"}, "X-Set": {"old"}}
	ops.apply(h, repl)
	want := http.Header{"X-Tag": {"client", "proxy"}, "X-Set": {"me"}}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %v, want %v (add, set, delete in that order)", h, want)
	}
	if full := client[:2]; full[1] != "" {
		t.Fatalf("add wrote %q into the client's value slice", full[1])
	}
	if newHeaderOps(&config.HeaderOps{}) != nil || newHeaderOps(nil) != nil {
		t.Fatal("empty ops must compile to nil (no work per request)")
	}
}

func BenchmarkHeaderOps(b *testing.B) {
	ops := newHeaderOps(&config.HeaderOps{Set: map[string]string{"X-A": "constant", "X-B": "{who}"}, Delete: []string{"X-C"}})
	repl := caddy.NewReplacer()
	repl.Set("who", "me")
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		ops.apply(h, repl)
	}
}
