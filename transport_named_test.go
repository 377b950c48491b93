package smartproxy

import (
	"errors"
	"net/http"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/h1"
)

// TestNamedTransportsOnePerNameHeldByMembers: a server name's transport is
// made once and shared by the members holding the name; another name gets
// its own; once the last holder lets go (each release counts once) the
// name is dropped, and a member found under it later gets a fresh one; a
// failed build keeps nothing.
func TestNamedTransportsOnePerNameHeldByMembers(t *testing.T) {
	built := map[string]int{}
	fail := false
	n := &namedTransports{build: func(name string) (http.RoundTripper, error) {
		if fail {
			return nil, errors.New("no transport")
		}
		built[name]++
		return h1.New(h1.Config{}), nil
	}}
	a1, releaseA1, err := n.acquire("a.test")
	if err != nil {
		t.Fatal(err)
	}
	a2, releaseA2, _ := n.acquire("a.test")
	b1, releaseB1, _ := n.acquire("b.test")
	if a1 != a2 || a1 == b1 || built["a.test"] != 1 || built["b.test"] != 1 {
		t.Fatalf("a %p %p, b %p, built %v: want one transport per name", a1, a2, b1, built)
	}
	releaseA1()
	releaseA1() // a second call of the same release changes nothing
	if len(n.m) != 2 {
		t.Fatalf("%d names after one of a.test's two holders let go, want 2", len(n.m))
	}
	releaseA2()
	if _, ok := n.m["a.test"]; ok || len(n.m) != 1 {
		t.Fatalf("a.test still held after its last holder let go: %v", n.m)
	}
	a3, releaseA3, _ := n.acquire("a.test")
	if a3 == a1 || built["a.test"] != 2 {
		t.Fatalf("a.test found again reused the released transport (built %v)", built)
	}
	releaseA3()
	releaseB1()
	fail = true
	if _, _, err := n.acquire("c.test"); err == nil || len(n.m) != 0 {
		t.Fatalf("failed build: err %v, %d names kept", err, len(n.m))
	}
}
