package smartproxy

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// template is a config value with Caddy placeholders, parsed once when
// the config loads, so a request only looks up the placeholders and joins
// the parts: no scanning for braces per request, and no allocation for a
// value without placeholders. The syntax is Caddy's: `{name}`, with `\{`
// and `\}` for literal braces; an unknown placeholder gives "" (as
// Replacer.ReplaceAll with an empty default).
type template struct {
	parts []tmplPart
	// constant is the value when it has no placeholders, as a
	// one-element slice (constant[0] is the value).
	constant []string
}

// tmplPart is a literal or, when key is set, a placeholder.
type tmplPart struct {
	lit, key string
}

func parseTemplate(s string) template {
	var t template
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '}') {
			lit.WriteByte(s[i+1])
			i++
			continue
		}
		if c == '{' {
			if end := strings.IndexByte(s[i+1:], '}'); end >= 0 {
				if lit.Len() > 0 {
					t.parts = append(t.parts, tmplPart{lit: lit.String()})
					lit.Reset()
				}
				t.parts = append(t.parts, tmplPart{key: s[i+1 : i+1+end]})
				i += end + 1
				continue
			}
		}
		lit.WriteByte(c)
	}
	if lit.Len() > 0 || len(t.parts) == 0 {
		t.parts = append(t.parts, tmplPart{lit: lit.String()})
	}
	if len(t.parts) == 1 && t.parts[0].key == "" {
		t.constant = []string{t.parts[0].lit}
	}
	return t
}

// expand returns the value for this request; repl may be nil (every
// placeholder empty).
func (t *template) expand(repl *caddy.Replacer) string {
	if t.constant != nil {
		return t.constant[0]
	}
	if len(t.parts) == 1 {
		return t.value(repl, t.parts[0].key)
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.key == "" {
			b.WriteString(p.lit)
		} else {
			b.WriteString(t.value(repl, p.key))
		}
	}
	return b.String()
}

func (*template) value(repl *caddy.Replacer, key string) string {
	if repl == nil {
		return ""
	}
	v, _ := repl.Get(key)
	return caddy.ToString(v)
}

// values returns the value as a header's value slice, a new one each time:
// Caddy's header replace rewrites a field's values in place, so a slice
// shared between requests would carry one's rewrite into every later one
// (TestHeaderSetConstantIsEachResponsesOwn).
func (t *template) values(repl *caddy.Replacer) []string {
	return []string{t.expand(repl)}
}
