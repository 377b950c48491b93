package yamladapter

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/caddy-smartproxy/smartproxy/config"
	"gopkg.in/yaml.v3"
)

// Sentinel errors, wrapped by the Err of every *Error so callers can tell
// the kinds apart with errors.Is. Validation errors found by
// config.Validate wrap config.ErrInvalid instead.
var (
	// ErrSyntax: the input is not well-formed YAML.
	ErrSyntax = errors.New("invalid yaml")
	// ErrEmpty: the input holds no document, or more than one.
	ErrEmpty = errors.New("not exactly one yaml document")
	// ErrUnknownKey: a mapping has a key the format does not define.
	// It is config.ErrUnknownKey, which the JSON decoder and the
	// Caddyfile directive wrap too.
	ErrUnknownKey = config.ErrUnknownKey
	// ErrDuplicateKey: a mapping has the same key twice.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrType: a value has the wrong YAML type (a string for a number, a
	// mapping for a list, ...).
	ErrType = errors.New("wrong type")
	// ErrDuration: a duration is not a string Caddy's ParseDuration reads.
	ErrDuration = errors.New("invalid duration")
	// ErrValue: a value has the right type but is out of range (port,
	// logging level, listen host, ...).
	ErrValue = errors.New("invalid value")
	// ErrMixed: the top level mixes smartproxy keys with Caddy's own.
	ErrMixed = errors.New("mixed formats")
	// ErrTooLarge: aliases and merge keys (<<) expand to more nodes than
	// the adapter walks (50 per byte of input, at most 2^20).
	ErrTooLarge = errors.New("document too large")
)

// Error is an adaptation error at one place of the input. Its message is
// always `FILE:LINE:COLUMN: PATH: CAUSE`, or `FILE:LINE: CAUSE` when the YAML
// parser gives no column, so editors and humans can jump to it.
type Error struct {
	// File is options["filename"] (what `caddy run --config` and `caddy
	// adapt --config` pass), or "config" when the body came without one,
	// as through the admin API's POST /load.
	File string
	// Line and Column are 1-based; Column is 0 when unknown.
	Line, Column int
	// Path names the key as the JSON and YAML spell it, e.g.
	// `routes[1].backends[0].url`; empty when the error is not about one.
	Path string
	// Err is the cause; it wraps one of the sentinels above or, for a
	// validation error, a *config.Error.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(e.Line))
	if e.Column > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Column))
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// invalid carries a *config.Error whose path is reported by the enclosing
// *Error: its message is the cause alone, and errors.As still finds the
// *config.Error (and errors.Is config.ErrInvalid).
type invalid struct{ cfg *config.Error }

func (v invalid) Error() string { return v.cfg.Err.Error() }
func (v invalid) Unwrap() error { return v.cfg }

// errf wraps a sentinel with a message: `unknown key "x" in ...`, or
// `wrong type: want ...` when format starts with a colon.
func errf(sentinel error, format string, args ...any) error {
	if !strings.HasPrefix(format, ":") {
		format = " " + format
	}
	return fmt.Errorf("%w"+format, append([]any{sentinel}, args...)...)
}

// yamlMessage splits a yaml.v3 error into its line (when it has one) and
// its problem.
var yamlMessage = regexp.MustCompile(`(?s)^yaml: (?:line (\d+): )?(.*)$`)

func splitYAMLError(err error) (line int, problem string) {
	m := yamlMessage.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, err.Error()
	}
	line, _ = strconv.Atoi(m[1])
	return line, m[2]
}

// syntaxError turns a yaml.v3 parser error into an *Error. Reader errors
// (bad UTF-8, control characters) come without a line: those are located
// by scanning the input for the offending byte; the line of the others is
// refined by refineLine.
func syntaxError(file string, body []byte, err error) *Error {
	line, problem := splitYAMLError(err)
	if line == 0 {
		if l, c, found := badByte(body); found {
			return &Error{File: file, Line: l, Column: c, Err: fmt.Errorf("%w: %s", ErrSyntax, problem)}
		}
	}
	if strings.Contains(problem, "tab character") || strings.Contains(problem, "cannot start any token") {
		if l, found := tabIndent(body, max(line, 1)); found {
			return &Error{File: file, Line: l, Column: 1, Err: fmt.Errorf("%w: tabs are not allowed in YAML indentation; indent with spaces", ErrSyntax)}
		}
	}
	line = refineLine(body, max(line, 1), problem)
	line = min(line, bytes.Count(body, []byte("\n"))+1)
	return &Error{File: file, Line: line, Err: fmt.Errorf("%w: %s", ErrSyntax, problem)}
}

// tabIndent returns the first line at or after from whose indentation
// holds a tab. yaml.v3 words a tab in indentation two ways, neither of
// which says "tab" plainly, and may report the line above it.
func tabIndent(body []byte, from int) (line int, found bool) {
	for i, l := range bytes.Split(body, []byte("\n")) {
		if i+1 < from {
			continue
		}
		indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
		if bytes.IndexByte(indent, '\t') >= 0 {
			return i + 1, true
		}
	}
	return 0, false
}

// refineLine finds the line a parser error is really on. yaml.v3 often
// reports the line where the enclosing construct starts (the mapping or
// list the error is in), lines above the mistake. The shortest prefix of
// the input that fails with the same problem ends at the line that holds
// it: prefixes that stop before the mistake parse, or fail otherwise (cut
// inside a quoted string, say). The search is binary, so a broken file of
// n lines costs log2(n) extra parses.
func refineLine(body []byte, line int, problem string) int {
	ends := []int{} // ends[k-1] is the offset just past line k
	for i, c := range body {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(body) {
		ends = append(ends, len(body))
	}
	fails := func(k int) bool {
		var doc yaml.Node
		err := yaml.Unmarshal(body[:ends[k-1]], &doc)
		if err == nil {
			return false
		}
		_, p := splitYAMLError(err)
		return p == problem
	}
	lo, hi := line, len(ends) // the answer is in [lo, hi] if fails(hi)
	if lo > hi || !fails(hi) {
		return line
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// badByte returns the 1-based position of the first byte YAML does not
// allow in a stream (invalid UTF-8 or a control character), if any.
func badByte(b []byte) (line, col int, found bool) {
	line, col = 1, 1
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1,
			r < 0x20 && r != '\t' && r != '\n' && r != '\r',
			r == 0x7f, r >= 0x80 && r < 0xa0 && r != 0x85,
			r == 0xfffe || r == 0xffff:
			return line, col, true
		case r == '\n':
			line, col = line+1, 1
		default:
			col++
		}
		b = b[size:]
	}
	return 0, 0, false
}
