package smartproxy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// weightsCaddyfile is a smartproxy block of n upstreams, each given its
// own weight (i%7) after all of them are listed, the layout that made a
// scan per weight quadratic.
func weightsCaddyfile(n int) string {
	var sb strings.Builder
	sb.WriteString("smartproxy {\n")
	for i := range n {
		fmt.Fprintf(&sb, " to 10.%d.%d.%d:8080\n", i>>16&255, i>>8&255, i&255)
	}
	for i := range n {
		fmt.Fprintf(&sb, " weight 10.%d.%d.%d:8080 %d\n", i>>16&255, i>>8&255, i&255, i%7)
	}
	sb.WriteString("}\n")
	return sb.String()
}

// TestCaddyfileManyWeights adapts 20,000 upstreams with a weight each and
// checks every weight landed on its upstream. How long that takes is
// BenchmarkCaddyfileWeights's to show (a scan per weight took 2.7 s here;
// the index takes milliseconds), not a timed test's.
func TestCaddyfileManyWeights(t *testing.T) {
	const n = 20000
	tokens, err := caddyfile.Tokenize([]byte(weightsCaddyfile(n)), "Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
		t.Fatal(err)
	}
	if len(h.Backends) != n {
		t.Fatalf("%d backends, want %d", len(h.Backends), n)
	}
	for i, b := range h.Backends {
		if b.Weight == nil || *b.Weight != i%7 {
			t.Fatalf("backends[%d] (%s): weight %v, want %d", i, b.URL, b.Weight, i%7)
		}
	}
}

// BenchmarkCaddyfileWeights: the time per upstream stays flat from 1,000
// to 20,000 upstreams when each weight finds its upstream in O(1)
// (ns/upstream); a scan per weight makes it grow with n.
func BenchmarkCaddyfileWeights(b *testing.B) {
	for _, n := range []int{1000, 20000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			tokens, err := caddyfile.Tokenize([]byte(weightsCaddyfile(n)), "Caddyfile")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				var h Handler
				if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/upstream")
		})
	}
}

func TestCaddyfileWeightLaterTo(t *testing.T) {
	// A weight may name an upstream of any earlier `to`, also one listed
	// after an earlier weight was looked up.
	var h Handler
	in := "smartproxy a:1 {\n weight a:1 2\n to b:2\n weight b:2 3\n to c:3 a:1\n weight c:3 4\n}"
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err != nil {
		t.Fatal(err)
	}
	want := []int{2, 3, 4}
	for i, w := range want {
		if b := h.Backends[i]; b.Weight == nil || *b.Weight != w {
			t.Errorf("backends[%d] (%s): weight %v, want %d", i, b.URL, b.Weight, w)
		}
	}
}
