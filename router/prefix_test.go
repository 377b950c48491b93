package router

import (
	"errors"
	"math/bits"
	"slices"
	"strings"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"", "", false},
		{"/", "", false},
		{"/v1", "/v1", false},
		{"/v1/", "/v1", false},
		{"/v1/users", "/v1/users", false},
		{"/a%20b", "/a%20b", false},
		{"/.well-known", "/.well-known", false},
		{"/my docs/", "/my docs", false},
		{"v1", "", true},
		{"//", "", true},
		{"/v1//", "", true},
		{"/./x", "", true},
		{"/x/..", "", true},
		{"/a\tb", "", true},
		{"/a#b", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := canonicalPath(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("canonicalPath(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidPath) {
				t.Errorf("error %v is not ErrInvalidPath", err)
			}
		})
	}
}

func TestPathOrderSortsSlashFirst(t *testing.T) {
	got := []string{"/a-b", "/a/b", "/a", "", "/a.b/c", "/a/b/c", "/ab", "/a/"}
	slices.SortFunc(got, pathOrder)
	want := []string{"", "/a", "/a/", "/a/b", "/a/b/c", "/a-b", "/a.b/c", "/ab"}
	if !slices.Equal(got, want) {
		t.Errorf("sorted %q, want %q", got, want)
	}
}

func TestTableParents(t *testing.T) {
	es := []entry[int]{}
	for i, p := range []string{"/a/b/c", "", "/a-b", "/a", "/a/b", "/a/bc", "/x"} {
		es = append(es, entry[int]{prefix: p, index: i})
	}
	tab, dup := newTable(es)
	if dup != nil {
		t.Fatalf("unexpected duplicate %v", dup)
	}
	want := map[string]string{ // child -> parent ("-" for none)
		"": "-", "/a": "", "/a/b": "/a", "/a/b/c": "/a/b", "/a/bc": "/a", "/a-b": "", "/x": "",
	}
	for _, nd := range tab.nodes {
		p, parent := nd.prefix, "-"
		if nd.parent >= 0 {
			parent = tab.nodes[nd.parent].prefix
		}
		if parent != want[p] {
			t.Errorf("parent of %q = %q, want %q", p, parent, want[p])
		}
	}
}

func TestClimbIsLogarithmic(t *testing.T) {
	// A single chain /s, /s/s, ... is the worst case for a parent walk.
	const depth = 5000
	es := make([]entry[int], depth)
	for d := range depth {
		es[d] = entry[int]{prefix: strings.Repeat("/s", d+1), index: d, value: d + 1}
	}
	tab, _ := newTable(es)
	deepest := int32(depth - 1)
	limit := 3 * bits.Len(depth)
	for k := 0; k <= 2*depth; k++ {
		x, steps := tab.climb(deepest, k)
		wantLen := k / 2 * 2 // the prefixes have even lengths
		if x < 0 && wantLen != 0 || x >= 0 && len(tab.nodes[x].prefix) != wantLen {
			t.Fatalf("climb(k=%d) landed on index %d, want prefix length %d", k, x, wantLen)
		}
		if steps > limit {
			t.Fatalf("climb(k=%d) took %d steps, want at most %d", k, steps, limit)
		}
	}
}

func TestTableDuplicateIndexes(t *testing.T) {
	es := []entry[int]{{prefix: "/b", index: 0}, {prefix: "/a", index: 1}, {prefix: "/b", index: 2}, {prefix: "/b", index: 3}}
	tab, dup := newTable(es)
	if tab.nodes != nil || dup == nil || *dup != [2]int{0, 2} {
		t.Errorf("newTable duplicates = %v, want [0 2]", dup)
	}
}

func TestPathKeyAgreesWithPathOrder(t *testing.T) {
	// Strings around the 8-byte boundary, with bytes below and above '/'.
	words := []string{"", "/", "//", "/a", "/a/", "/a-", "/a.b", "/\x00", "/\xff", "/abcdefg", "/abcdefg/",
		"/abcdefgh", "/abcdef/", "/abcdef-", "/abcdefg\x00", "/abcdefg\xff", "/abcdefgh/i", "\x00", "-"}
	sign := func(x int) int { return min(max(x, -1), 1) }
	for _, a := range words {
		for _, b := range words {
			ka, kb := pathKey(a), pathKey(b)
			order := sign(pathOrder(a, b))
			if ka < kb && order != -1 || ka > kb && order != 1 {
				t.Errorf("pathKey(%q)=%#x, pathKey(%q)=%#x disagree with pathOrder %d", a, ka, b, kb, order)
			}
		}
	}
}
