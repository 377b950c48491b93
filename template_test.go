package smartproxy

import (
	"strings"
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

// FuzzTemplate: a parsed template expands as Caddy's own Replacer does
// (for inputs without backslash escapes, where Caddy's escape handling
// inside a placeholder differs in corner cases), and never panics.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"plain", "{a}", "x-{a}-{n}-{unknown}", "{", "}", "{{a}}", "{a{b}", `\{a\}`} {
		f.Add(s)
	}
	repl := caddy.NewReplacer()
	repl.Set("a", "A")
	repl.Set("n", 42)
	f.Fuzz(func(t *testing.T, in string) {
		tp := parseTemplate(in)
		got := tp.expand(repl)
		if len(in) > 200 || strings.ContainsRune(in, '\\') {
			return
		}
		if want := repl.ReplaceAll(in, ""); got != want {
			t.Fatalf("%q: got %q, Caddy's ReplaceAll gives %q", in, got, want)
		}
		if tp.constant != nil && strings.Contains(in, "{") && strings.Contains(in[strings.Index(in, "{"):], "}") && !strings.Contains(in, "{}") {
			t.Fatalf("%q: a placeholder was taken for a constant", in)
		}
	})
}
