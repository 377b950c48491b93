package router

import (
	"fmt"
	"testing"
)

type benchQuery struct{ host, path string }

// benchOneHost puts all n prefixes in the any-host group, so every lookup
// binary-searches one table of n entries: the case that shows the log n.
// Groups of 16 nest under a parent ("/t7" above "/t7/r1" ... "/t7/r15").
func benchOneHost(n int) ([]Route[int], []benchQuery) {
	routes := make([]Route[int], n)
	for i := range n {
		p := fmt.Sprintf("/t%d", i/16)
		if i%16 != 0 {
			p += fmt.Sprintf("/r%d", i%16)
		}
		routes[i] = Route[int]{Path: p, Value: i}
	}
	qs := make([]benchQuery, 1024)
	for i := range qs {
		k := (i * 7919) % n // spread over the table
		switch i % 4 {
		case 0, 1:
			qs[i] = benchQuery{"example.com", routes[k].Path + "/items/42"}
		case 2:
			qs[i] = benchQuery{"example.com", fmt.Sprintf("/t%d/zz/9", k/16)} // falls back to the parent
		default:
			qs[i] = benchQuery{"example.com", fmt.Sprintf("/u%d/x", k)} // no match
		}
	}
	return routes, qs
}

// benchHosts spreads n routes over exact hosts of 8 paths each, with a
// wildcard per 64 routes and a few any-host routes: a virtual-hosting setup.
func benchHosts(n int) ([]Route[int], []benchQuery) {
	routes := make([]Route[int], 0, n)
	for i := 0; len(routes) < n; i++ {
		var rt Route[int]
		switch {
		case i%64 == 63:
			rt = Route[int]{Host: fmt.Sprintf("*.w%d.example.com", i/64), Path: "/"}
		case i < 4:
			rt = Route[int]{Path: fmt.Sprintf("/any%d", i)}
		default:
			rt = Route[int]{Host: fmt.Sprintf("h%d.example.com", i/8), Path: fmt.Sprintf("/p%d", i%8)}
		}
		rt.Value = len(routes)
		routes = append(routes, rt)
	}
	qs := make([]benchQuery, 1024)
	for i := range qs {
		k := (i * 7919) % n
		switch i % 4 {
		case 0:
			qs[i] = benchQuery{fmt.Sprintf("h%d.example.com", k/8), fmt.Sprintf("/p%d/x", k%8)}
		case 1:
			qs[i] = benchQuery{fmt.Sprintf("H%d.Example.com:8443", k/8), fmt.Sprintf("/p%d", k%8)}
		case 2:
			qs[i] = benchQuery{fmt.Sprintf("api.w%d.example.com", k/64), "/v1/users"}
		default:
			qs[i] = benchQuery{"unknown.org", "/any1/x"}
		}
	}
	return routes, qs
}

// BenchmarkLookup measures Lookup at 10, 1,000 and 100,000 routes, serial
// and in parallel; it must show 0 allocs/op and time growing no faster than
// log n.
func BenchmarkLookup(b *testing.B) {
	shapes := []struct {
		name string
		make func(int) ([]Route[int], []benchQuery)
	}{{"onehost", benchOneHost}, {"hosts", benchHosts}}
	for _, shape := range shapes {
		for _, n := range []int{10, 1_000, 100_000} {
			routes, qs := shape.make(n)
			r, err := New(routes)
			if err != nil {
				b.Fatal(err)
			}
			// A query set that never matches would measure nothing.
			if matched := countMatches(r, qs); matched < len(qs)/2 {
				b.Fatalf("%s/%d: only %d of %d queries match", shape.name, n, matched, len(qs))
			}
			name := fmt.Sprintf("%s/routes=%d", shape.name, n)
			b.Run(name+"/serial", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					q := qs[i&1023]
					r.Lookup(q.host, q.path)
					i++
				}
			})
			b.Run(name+"/parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						q := qs[i&1023]
						r.Lookup(q.host, q.path)
						i++
					}
				})
			})
		}
	}
}

func countMatches(r *Router[int], qs []benchQuery) int {
	n := 0
	for _, q := range qs {
		if _, ok := r.Lookup(q.host, q.path); ok {
			n++
		}
	}
	return n
}

// BenchmarkNew measures building a router: it runs on every config load,
// not per request.
func BenchmarkNew(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		routes, _ := benchHosts(n)
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(routes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
