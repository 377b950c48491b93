package router

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// mustNew builds a router whose values name the route ("host path"), so a
// test can see which route matched.
func mustNew(t testing.TB, pairs ...string) *Router[string] {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatal("mustNew wants host, path pairs")
	}
	var routes []Route[string]
	for i := 0; i < len(pairs); i += 2 {
		routes = append(routes, Route[string]{Host: pairs[i], Path: pairs[i+1], Value: pairs[i] + " " + pairs[i+1]})
	}
	r, err := New(routes)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

type query struct {
	host, path string
	want       string // value of the route expected, "" for no match
}

func checkQueries(t *testing.T, r *Router[string], qs []query) {
	t.Helper()
	for _, q := range qs {
		got, ok := r.Lookup(q.host, q.path)
		if q.want == "" {
			if ok {
				t.Errorf("Lookup(%q, %q) = %q, want no match", q.host, q.path, got)
			}
			continue
		}
		if !ok || got != q.want {
			t.Errorf("Lookup(%q, %q) = %q, %v; want %q", q.host, q.path, got, ok, q.want)
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name   string
		routes []string
		qs     []query
	}{
		{
			name:   "exact host is case-insensitive and ignores the port",
			routes: []string{"API.Example.com", "/"},
			qs: []query{
				{"api.example.com", "/x", "API.Example.com /"},
				{"API.EXAMPLE.COM:8443", "/", "API.Example.com /"},
				{"api.example.com.", "/", "API.Example.com /"},
				{"api.example.com.:80", "/", "API.Example.com /"},
				{"api.example.co", "/", ""},
				{"xapi.example.com", "/", ""},
				{"", "/", ""},
			},
		},
		{
			name:   "IPv6 literals with and without port, canonical form",
			routes: []string{"[::1]", "/", "2001:DB8::0001", "/v6", "10.0.0.1", "/v4"},
			qs: []query{
				{"[::1]:8080", "/a", "[::1] /"},
				{"[::1]", "/a", "[::1] /"},
				{"::1", "/a", "[::1] /"},
				{"[0:0:0:0:0:0:0:1]:80", "/", "[::1] /"},
				{"[2001:db8::1]:443", "/v6/x", "2001:DB8::0001 /v6"},
				{"[2001:DB8:0::1]", "/v6", "2001:DB8::0001 /v6"},
				{"[2001:db8::1]", "/other", ""},
				{"10.0.0.1:80", "/v4", "10.0.0.1 /v4"},
				{"[::2]:8080", "/", ""},
				{"[::1%eth0]", "/", ""},
				{"[::1", "/", ""},
				{"::1:80:x", "/", ""},
			},
		},
		{
			name:   "wildcard stands for exactly one label",
			routes: []string{"*.example.com", "/"},
			qs: []query{
				{"a.example.com", "/", "*.example.com /"},
				{"A-1.EXAMPLE.com:80", "/p", "*.example.com /"},
				{"a.example.com.", "/", "*.example.com /"},
				{"example.com", "/", ""},
				{".example.com", "/", ""},
				{"a.b.example.com", "/", ""},
				{"aexample.com", "/", ""},
			},
		},
		{
			name:   "empty host matches any host, even an empty or odd one",
			routes: []string{"", "/"},
			qs: []query{
				{"", "/", " /"},
				{"anything:1", "/x", " /"},
				{"[::1]:1", "/x", " /"},
				{strings.Repeat("a", 300), "/x", " /"},
				{"no host\x00", "", " /"},
			},
		},
		{
			name: "longest prefix on segment boundaries",
			routes: []string{
				"", "/v1",
				"", "/v1/users/",
				"", "/v10",
				"", "/v1-beta",
			},
			qs: []query{
				{"h", "/v1", " /v1"},
				{"h", "/v1/", " /v1"},
				{"h", "/v1/x", " /v1"},
				{"h", "/v1/users", " /v1/users/"},
				{"h", "/v1/users/", " /v1/users/"},
				{"h", "/v1/users/7", " /v1/users/"},
				{"h", "/v1/usersx", " /v1"},
				{"h", "/v1x", ""},
				{"h", "/v10/a", " /v10"},
				{"h", "/v1-beta", " /v1-beta"},
				{"h", "/v1-", ""},
				{"h", "/v", ""},
				{"h", "/", ""},
				{"h", "", ""},
				{"h", "v1", ""},
				{"h", "/V1", ""},
			},
		},
		{
			name:   "root prefix, spelled empty or slash, matches every path",
			routes: []string{"a.com", "", "b.com", "/"},
			qs: []query{
				{"a.com", "/", "a.com "},
				{"a.com", "", "a.com "},
				{"a.com", "*", "a.com "},
				{"b.com", "/deep/path", "b.com /"},
			},
		},
		{
			name: "exact beats wildcard beats any; each falls through when no prefix matches",
			routes: []string{
				"api.example.com", "/v1",
				"*.example.com", "/",
				"*.example.com", "/v1/admin",
				"", "/health",
				"", "/",
			},
			qs: []query{
				{"api.example.com", "/v1/x", "api.example.com /v1"},
				{"api.example.com", "/v1/admin", "api.example.com /v1"},
				{"api.example.com", "/health", "*.example.com /"},
				{"www.example.com", "/v1/admin/x", "*.example.com /v1/admin"},
				{"www.example.com", "/health", "*.example.com /"},
				{"example.com", "/health", " /health"},
				{"other.org", "/x", " /"},
			},
		},
		{
			name:   "exact host without a matching prefix falls through to any-host",
			routes: []string{"api.example.com", "/v1", "", "/v2"},
			qs: []query{
				{"api.example.com", "/v2/x", " /v2"},
				{"api.example.com", "/v3", ""},
			},
		},
		{
			name:   "prefixes sorting between a parent and the path",
			routes: []string{"", "/a", "", "/a-z", "", "/a.b", "", "/a/b", "", "/a/b/c/d"},
			qs: []query{
				{"h", "/a/c", " /a"},
				{"h", "/a/b/c", " /a/b"},
				{"h", "/a/b/c/e", " /a/b"},
				{"h", "/a/b/c/d/e", " /a/b/c/d"},
				{"h", "/a-", ""},
				{"h", "/a-z/q", " /a-z"},
				{"h", "/a.b", " /a.b"},
			},
		},
		{
			name:   "path bytes compared as given: nothing is decoded",
			routes: []string{"", "/a%2Fb", "", "/my docs"},
			qs: []query{
				{"h", "/a%2Fb/c", " /a%2Fb"},
				{"h", "/a/b", ""},
				{"h", "/my docs/x", " /my docs"},
				{"h", "/my%20docs/x", ""},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkQueries(t, mustNew(t, tc.routes...), tc.qs)
		})
	}
}

func TestLookupDeepChain(t *testing.T) {
	// /s, /s/s, ... nests 300 deep: the jump pointers must find the right
	// ancestor for a path that leaves the chain at any depth.
	const depth = 300
	var routes []Route[int]
	for d := 1; d <= depth; d++ {
		routes = append(routes, Route[int]{Path: strings.Repeat("/s", d), Value: d})
	}
	r, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	for d := 0; d <= depth+1; d++ {
		path := strings.Repeat("/s", d) + "/t"
		got, ok := r.Lookup("h", path)
		want := min(d, depth)
		if want == 0 {
			if ok {
				t.Errorf("Lookup(%q) = %d, want no match", path, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("Lookup(depth %d + /t) = %d, %v; want %d", d, got, ok, want)
		}
	}
}

func TestNilAndEmptyRouter(t *testing.T) {
	var nilRouter *Router[int]
	if v, ok := nilRouter.Lookup("a", "/"); ok || v != 0 {
		t.Errorf("nil router matched: %v", v)
	}
	var zero Router[int]
	if _, ok := zero.Lookup("a", "/"); ok {
		t.Error("zero router matched")
	}
	empty, err := New[int](nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := empty.Lookup("a", "/"); ok {
		t.Error("empty router matched")
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		routes  []string
		wantErr error
		wantMsg []string // substrings the message must hold
	}{
		{"duplicate pair", []string{"a.com", "/v1", "b.com", "/v1", "a.com", "/v1"}, ErrDuplicateRoute,
			[]string{`route 2 (host "a.com", path "/v1")`, `route 0 (host "a.com", path "/v1")`}},
		{"duplicate after case and trailing slash", []string{"A.com", "/v1/", "a.COM.", "/v1"}, ErrDuplicateRoute,
			[]string{`"A.com"`, `"/v1/"`, `"a.COM."`}},
		{"duplicate root", []string{"", "", "", "/"}, ErrDuplicateRoute, []string{`route 1`}},
		{"duplicate wildcard", []string{"*.a.com", "/x", "*.A.com", "/x/"}, ErrDuplicateRoute, []string{`"*.A.com"`}},
		{"duplicate IPv6 spellings", []string{"[::1]", "/", "0::1", "/"}, ErrDuplicateRoute, []string{`"0::1"`}},
		{"host with slash", []string{"a.com/x", "/"}, ErrInvalidHost, []string{`"a.com/x"`, "route 0"}},
		{"host with space", []string{"a b.com", "/"}, ErrInvalidHost, []string{`"a b.com"`}},
		{"host with port", []string{"a.com:80", "/"}, ErrInvalidHost, []string{`"a.com:80"`}},
		{"IPv6 with port", []string{"[::1]:80", "/"}, ErrInvalidHost, []string{`"[::1]:80"`}},
		{"IPv6 with zone", []string{"[fe80::1%eth0]", "/"}, ErrInvalidHost, []string{"zone"}},
		{"bracketed non-IPv6", []string{"[1.2.3.4]", "/"}, ErrInvalidHost, []string{`"[1.2.3.4]"`}},
		{"star inside label", []string{"a*.com", "/"}, ErrInvalidHost, []string{`"a*.com"`}},
		{"star in later label", []string{"a.*.com", "/"}, ErrInvalidHost, []string{`"a.*.com"`}},
		{"two stars", []string{"*.*.com", "/"}, ErrInvalidHost, []string{`"*.*.com"`}},
		{"bare star", []string{"*", "/"}, ErrInvalidHost, []string{`"*"`}},
		{"star without suffix", []string{"*.", "/"}, ErrInvalidHost, []string{`"*."`}},
		{"empty label", []string{"a..com", "/"}, ErrInvalidHost, []string{"empty label"}},
		{"leading dot", []string{".a.com", "/"}, ErrInvalidHost, []string{"empty label"}},
		{"too long", []string{strings.Repeat("a", 254), "/"}, ErrInvalidHost, []string{"longer than 253"}},
		{"path without slash", []string{"a.com", "v1"}, ErrInvalidPath, []string{`"v1"`, "route 0"}},
		{"path with empty segment", []string{"a.com", "/v1//x"}, ErrInvalidPath, []string{`"/v1//x"`}},
		{"path with dot segment", []string{"", "/a/../b"}, ErrInvalidPath, []string{"dot segment"}},
		{"path with query", []string{"", "/a?b=1"}, ErrInvalidPath, []string{`"/a?b=1"`}},
		{"path with control character", []string{"", "/a\x00b"}, ErrInvalidPath, []string{`"/a\x00b"`}},
		{"path with fragment", []string{"", "/a#top"}, ErrInvalidPath, []string{"query or fragment"}},
		{"second route invalid", []string{"ok.com", "/", "", "x"}, ErrInvalidPath, []string{"route 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var routes []Route[int]
			for i := 0; i < len(tc.routes); i += 2 {
				routes = append(routes, Route[int]{Host: tc.routes[i], Path: tc.routes[i+1]})
			}
			r, err := New(routes)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("New err = %v, want %v", err, tc.wantErr)
			}
			if r != nil {
				t.Error("New returned a router with an error")
			}
			for _, s := range tc.wantMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestNewAcceptsDistinctRoutes(t *testing.T) {
	// Same path in different host groups, and prefixes that only look alike.
	mustNew(t,
		"a.com", "/v1", "*.a.com", "/v1", "", "/v1",
		"a.com", "/v1x", "a.com", "/v1/x", "b.com", "/v1",
		"[::1]", "/", "_srv.a.com", "/", "xn--bcher-kva.example", "/",
	)
}

func TestLookupAllocatesNothing(t *testing.T) {
	r := mustNew(t,
		"api.example.com", "/v1", "*.example.com", "/", "[::1]", "/", "", "/health",
	)
	for _, q := range []query{
		{"api.example.com", "/v1/x", ""},
		{"API.EXAMPLE.COM:443", "/v1/x", ""},
		{"www.Example.com", "/x", ""},
		{"[::1]:8080", "/x", ""},
		{"other.org", "/health/x", ""},
		{strings.Repeat("A", 300), "/none", ""},
	} {
		if n := testing.AllocsPerRun(100, func() { r.Lookup(q.host, q.path) }); n != 0 {
			t.Errorf("Lookup(%q, %q) allocates %v times", q.host, q.path, n)
		}
	}
}

func TestConcurrentLookupAndSwap(t *testing.T) {
	// Readers look up through an atomic.Pointer while a writer publishes
	// new routers, the way a config reload does; -race checks the sharing.
	build := func(gen int) *Router[string] {
		var routes []Route[string]
		for i := range 50 {
			routes = append(routes, Route[string]{
				Host:  fmt.Sprintf("h%d.example.com", i%5),
				Path:  fmt.Sprintf("/p%d", i),
				Value: fmt.Sprintf("%d:%d", gen, i),
			})
		}
		r, err := New(routes)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var cur atomic.Pointer[Router[string]]
	cur.Store(build(0))
	const gens = 20
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := range 8 {
		wg.Go(func() {
			for n := range 2000 {
				i := (n + w) % 50
				got, ok := cur.Load().Lookup(fmt.Sprintf("H%d.example.com:80", i%5), fmt.Sprintf("/p%d/x", i))
				var gen int
				var idx int
				if _, err := fmt.Sscanf(got, "%d:%d", &gen, &idx); !ok || err != nil || idx != i || gen < 0 || gen >= gens {
					select {
					case errs <- fmt.Sprintf("lookup %d got %q, %v", i, got, ok):
					default:
					}
					return
				}
			}
		})
	}
	for g := 1; g < gens; g++ {
		cur.Store(build(g))
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
