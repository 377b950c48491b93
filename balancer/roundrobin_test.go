package balancer

import (
	"strings"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// sequence picks n times and spells the picks with the backends' letters.
func sequence(p Picker, letters map[*backend.Backend]string, n int) string {
	var sb strings.Builder
	for range n {
		sb.WriteString(letters[p.Pick(nil)])
	}
	return sb.String()
}

func letterMap(bs []*backend.Backend) map[*backend.Backend]string {
	m := make(map[*backend.Backend]string, len(bs))
	for i, b := range bs {
		m[b] = string(rune('a' + i))
	}
	return m
}

func TestRoundRobinRotates(t *testing.T) {
	bs := makeBackends(t, 1, 1, 1, 1)
	p := mustNew(t, Config{Algorithm: RoundRobin}).Build(bs)
	if got, want := sequence(p, letterMap(bs), 12), "abcdabcdabcd"; got != want {
		t.Fatalf("sequence = %s, want %s", got, want)
	}
}

// Round robin ignores weights other than 0: it is strict rotation.
func TestRoundRobinIgnoresWeights(t *testing.T) {
	bs := makeBackends(t, 5, 1, 3)
	p := mustNew(t, Config{Algorithm: RoundRobin}).Build(bs)
	if got, want := sequence(p, letterMap(bs), 6), "abcabc"; got != want {
		t.Fatalf("sequence = %s, want %s", got, want)
	}
}

// When the available set changes mid-rotation the next pick is the backend
// after the last one picked, in configured order.
func TestRoundRobinStaysStrictAcrossRebuilds(t *testing.T) {
	tests := []struct {
		name   string
		before int    // picks made over all of a..e
		set    string // the new available set
		want   string // the picks that follow
	}{
		{name: "same set", before: 2, set: "abcde", want: "cdeab"},
		{name: "unrelated backend leaves", before: 2, set: "abde", want: "deabd"},
		{name: "next backend leaves", before: 2, set: "abde", want: "deabd"},
		{name: "last picked leaves", before: 2, set: "acde", want: "cdeac"},
		{name: "last picked and its successors leave", before: 3, set: "ab", want: "abab"},
		{name: "wraps to the start", before: 5, set: "bcd", want: "bcdb"},
		{name: "one left", before: 1, set: "c", want: "ccc"},
		{name: "before any pick", before: 0, set: "bd", want: "bdbd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all := makeBackends(t, 1, 1, 1, 1, 1)
			letters := letterMap(all)
			bal := mustNew(t, Config{Algorithm: RoundRobin})
			if got, want := sequence(bal.Build(all), letters, tc.before), "abcde"[:tc.before]; got != want {
				t.Fatalf("before the change: %s, want %s", got, want)
			}
			var set []*backend.Backend
			for _, c := range tc.set {
				set = append(set, all[c-'a'])
			}
			if got := sequence(bal.Build(set), letters, len(tc.want)); got != tc.want {
				t.Fatalf("after the change to %s: %s, want %s", tc.set, got, tc.want)
			}
		})
	}
}

// A backend that comes back is slotted into its configured place.
func TestRoundRobinBackendReturns(t *testing.T) {
	all := makeBackends(t, 1, 1, 1, 1)
	letters := letterMap(all)
	bal := mustNew(t, Config{Algorithm: RoundRobin})
	without := []*backend.Backend{all[0], all[1], all[3]}
	got := sequence(bal.Build(without), letters, 2) // a b
	got += sequence(bal.Build(all), letters, 6)     // c d a b c d
	if want := "abcdabcd"; got != want {
		t.Fatalf("sequence = %s, want %s", got, want)
	}
}

// Availability flapping on every pick must not bias the rotation towards
// the first backend: over many flaps, shares stay even and no backend is
// picked twice in a row.
func TestRoundRobinFlappingKeepsSharesEven(t *testing.T) {
	all := makeBackends(t, 1, 1, 1)
	bal := mustNew(t, Config{Algorithm: RoundRobin})
	sets := [][]*backend.Backend{all, {all[0], all[2]}, all, {all[1], all[2]}, all, {all[0], all[1]}}
	idx := indexOf(all)
	counts := make([]int, len(all))
	var last *backend.Backend
	for i := range 6000 {
		b := bal.Build(sets[i%len(sets)]).Pick(nil)
		if b == last {
			t.Fatalf("pick %d: %v picked twice in a row", i, b.Name)
		}
		last = b
		counts[idx[b]]++
	}
	for i, c := range counts {
		if c < 1900 || c > 2100 {
			t.Errorf("backend %d picked %d of 6000 times, want about 2000 (%v)", i, c, counts)
		}
	}
}
