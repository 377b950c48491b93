package yamladapter

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// wideMapping writes an anchored flow mapping of n keys: `&name {k0: x, ...}`.
func wideMapping(name string, n int) string {
	var b strings.Builder
	b.WriteString("&" + name + " {")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "k%d: x, ", i)
	}
	b.WriteString("z: x}")
	return b.String()
}

// aliases writes n aliases to name, comma-separated.
func aliases(name string, n int) string {
	return strings.TrimSuffix(strings.Repeat("*"+name+", ", n), ", ")
}

// nestedMerges writes levels mappings, each merging the previous one ten
// times: expanded naively, level L walks 10^L mappings.
func nestedMerges(levels int) string {
	b := "apps:\n  l0: " + wideMapping("l0", 10) + "\n"
	for l := 1; l <= levels; l++ {
		b += fmt.Sprintf("  l%d: &l%d {<<: [%s]}\n", l, l, aliases(fmt.Sprintf("l%d", l-1), 10))
	}
	return b
}

// mergeBombs are small YAML files of merges that ask for far more work
// than their size, with the lines the budget can run out on.
var mergeBombs = []struct {
	name     string
	body     string
	from, to int // the lines the budget can run out on
}{
	{"one merge list of many aliases to a wide mapping",
		"apps:\n  base: " + wideMapping("b", 8000) + "\n  m: {<<: [" + aliases("b", 16000) + "]}\n", 3, 3},
	{"many mappings merging a wide mapping",
		"apps:\n  base: " + wideMapping("b", 8000) + "\n  m:\n" + strings.Repeat("    - {<<: *b}\n", 5000), 4, 5004},
	{"in the smartproxy format",
		"x: " + wideMapping("b", 8000) + "\n<<: [" + aliases("b", 16000) + "]\nbackends: []\n", 2, 2},
}

// TestMergeBomb: merge keys (<<) copy every key of their sources, so a
// small file of merges can ask for far more work than its size. Each is
// refused by the node budget at a line of the merges. Before merges were
// charged by what they copy, these 143 KB files (the size reported) took
// seconds of CPU each, or were accepted after it; the refusal itself is
// the proof (a wall-clock bound failed on a loaded machine), and
// BenchmarkMergeBomb shows the time.
func TestMergeBomb(t *testing.T) {
	for _, tc := range mergeBombs {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Adapter{}.Adapt([]byte(tc.body), nil)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%d bytes: err = %.300v, want ErrTooLarge", len(tc.body), err)
			}
			if e.Line < tc.from || e.Line > tc.to || !strings.Contains(err.Error(), "merges (<<)") {
				t.Errorf("err = %.300v, want it on lines %d-%d, naming merges", err, tc.from, tc.to)
			}
		})
	}
}

// BenchmarkMergeBomb: how long refusing each merge bomb takes (the
// unbounded walk took seconds).
func BenchmarkMergeBomb(b *testing.B) {
	for _, tc := range mergeBombs {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := (Adapter{}).Adapt([]byte(tc.body), nil); !errors.Is(err, ErrTooLarge) {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMergesWithinBudget: the merges real configs use are expanded with
// the documented precedence, however often one mapping is merged, and a
// mapping reached again is not expanded again (30 levels of ten merges
// each would otherwise be 10^30 expansions).
func TestMergesWithinBudget(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"precedence, repeated",
			"apps:\n  base: &b {a: 1, b: 2}\n  over: &o {b: 3, c: 4}\n  m:\n" +
				strings.Repeat("    - {<<: [*o, *b, *o], a: 0}\n", 200),
			`"m":[` + strings.TrimSuffix(strings.Repeat(`{"a":0,"b":3,"c":4},`, 200), ",") + `]`},
		{"merges of merges", nestedMerges(30), `"l30":{"k0":"x",`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := Adapter{}.Adapt([]byte(tc.body), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output lacks %.100s: %.300s", tc.want, out)
			}
		})
	}
}
