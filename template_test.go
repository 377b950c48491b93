package smartproxy

import (
	"testing"

	"github.com/caddyserver/caddy/v2"
)

func TestTemplate(t *testing.T) {
	repl := caddy.NewReplacer()
	repl.Set("a", "A")
	repl.Set("n", 42)
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"", ""},
		{"{a}", "A"},
		{"x-{a}-{n}", "x-A-42"},
		{"{unknown}", ""},
		{`\{a\}`, "{a}"},
		{"open {brace", "open {brace"},
		{"{a}{a}", "AA"},
	} {
		tp := parseTemplate(tc.in)
		if got := tp.expand(repl); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
		if got := tp.expand(repl); got != repl.ReplaceAll(tc.in, "") && tc.in != "open {brace" {
			t.Errorf("%q: %q differs from Caddy's ReplaceAll %q", tc.in, got, repl.ReplaceAll(tc.in, ""))
		}
	}
	c := parseTemplate("const")
	if allocs := testing.AllocsPerRun(100, func() { _ = c.values(repl) }); allocs != 0 {
		t.Fatalf("a constant value allocates %v times per request", allocs)
	}
}
