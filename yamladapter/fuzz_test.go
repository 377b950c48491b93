package yamladapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// errorPosition is the one format every error message starts with:
// FILE:LINE: or FILE:LINE:COLUMN:.
var errorPosition = regexp.MustCompile(`^config:([0-9]+)(:[0-9]+)?: `)

// FuzzAdapt: no input panics; every error is an *Error whose message
// names a line inside the input; every success is valid JSON and the same
// bytes on a second run.
func FuzzAdapt(f *testing.F) {
	for _, src := range goldenInputs(f) {
		b, err := os.ReadFile(src)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "~", "- a", "a: [", "\x01", "# c\n", "---\na: 1\n---\nb: 2\n",
		"server:\n  port: eighty\n", "helth_check: {}\n", "backends:\n  url: x\n",
		"backends:\n  - url: http://a\n  - url: http://a\n", "server: {timeout: 30}\n",
		"apps: &a\n  x: *a\n", "a: &a [*a, *a]\nb: &b [*a, *a]\napps: [*b, *b]\n",
		"backends:\n  - &b {url: http://a}\n  - <<: [*b, {weight: 2}]\n    url: http://b\n",
		"routes:\n  - host: a\n    backends: [{url: http://a, weight: -1}]\n",
		"admin: off\nlogging: debug\n", "apps: {}\nbackends: []\n", "cache: {ttl: 1e400d}\n",
		"? [a]\n: b\n", "apps:\n  x: !!binary aGk=\n  y: 2001-12-14\n  z: .inf\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, warnings, err := Adapter{}.Adapt(body, nil)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
			m := errorPosition.FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error names no line: %q", err)
			}
			line, _ := strconv.Atoi(m[1])
			if lines := bytes.Count(body, []byte("\n")) + 1; line < 1 || line > lines {
				t.Fatalf("error at line %d of a %d-line input: %v", line, lines, err)
			}
			if out != nil || warnings != nil {
				t.Fatalf("error with output: %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output is not JSON: %s", out)
		}
		again, _, err := Adapter{}.Adapt(body, nil)
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("second run differs: %v\n%s\n%s", err, out, again)
		}
	})
}
