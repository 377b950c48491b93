package router

import (
	"fmt"
	"slices"
	"strings"
)

// entry is one route of a host group while its table is built.
type entry[T any] struct {
	prefix string // canonical path prefix
	index  int    // position in New's input, for errors and stable order
	value  T
}

// table is the routes of one host group: canonical prefixes sorted in
// pathOrder. Each node also holds its parent (the longest other prefix in
// the table that is a segment-aligned prefix of it, or -1) and a skew-binary
// jump pointer (an ancestor further up, or -1), so that the chain of
// ancestors is searched in O(log n).
//
// The binary search reads keys, the first 8 bytes of each prefix packed into
// a uint64, and touches a node only on a tie: at 100,000 routes the keys are
// 800 KB in one array while the nodes and their strings would be a cache miss
// per probe. The prefixes' bytes lie in one string in sorted order, so the
// ties at the end of a search read neighbouring memory.
type table[T any] struct {
	keys  []uint64
	nodes []node[T]
}

type node[T any] struct {
	prefix       string
	parent, jump int32
	value        T
}

// canonicalPath checks a route's Path and returns it without its trailing
// slash ("/v1/" and "/v1" match the same paths); "" and "/" become "", the
// prefix of everything.
func canonicalPath(p string) (string, error) {
	if p == "" || p == "/" {
		return "", nil
	}
	invalid := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidPath, p, why)
	}
	if p[0] != '/' {
		return invalid("must start with '/'")
	}
	c := strings.TrimSuffix(p, "/")
	for seg := range strings.SplitSeq(c[1:], "/") {
		switch seg {
		case "":
			return invalid("empty segment")
		case ".", "..":
			return invalid("dot segment")
		}
	}
	for i := 0; i < len(c); i++ {
		switch b := c[i]; {
		case b < ' ' || b == 0x7f:
			return invalid("contains a control character")
		case b == '?' || b == '#':
			return invalid("a query or fragment is not part of the path")
		}
	}
	return c, nil
}

// pathByte maps a byte to its place in pathOrder: '/' first, the bytes
// below it shifted up by one into its place, the rest unchanged.
func pathByte(b byte) byte {
	switch {
	case b == '/':
		return 0
	case b < '/':
		return b + 1
	}
	return b
}

// pathOrder compares like strings.Compare, except that '/' sorts before every
// other byte. In this order, every prefix in the table that matches path on
// a segment boundary is a segment-aligned prefix of the greatest entry that
// is not above path: a prefix s of path followed by '/' (or equal to it) is
// below path, and every string between s and s+"/..." starts with s+"/".
func pathOrder(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return int(pathByte(a[i])) - int(pathByte(b[i]))
		}
	}
	return len(a) - len(b)
}

// pathKey packs the first 8 bytes of s, mapped by pathByte, big-endian and
// padded with zeros. pathKey(a) < pathKey(b) implies pathOrder(a, b) < 0
// (padding is the least value, and a shorter string that runs out first is
// a prefix of the other), so only equal keys need pathOrder.
func pathKey(s string) uint64 {
	var k uint64
	for i := 0; i < 8; i++ {
		k <<= 8
		if i < len(s) {
			k |= uint64(pathByte(s[i]))
		}
	}
	return k
}

// alignedPrefix reports whether prefix (canonical) matches path on a segment
// boundary.
func alignedPrefix(prefix, path string) bool {
	return prefix == "" ||
		strings.HasPrefix(path, prefix) && (len(path) == len(prefix) || path[len(prefix)] == '/')
}

// newTable builds the table for one host group. If two entries have the same
// prefix it returns their indexes in New's input, lower first.
func newTable[T any](es []entry[T]) (table[T], *[2]int) {
	slices.SortFunc(es, func(a, b entry[T]) int {
		if c := pathOrder(a.prefix, b.prefix); c != 0 {
			return c
		}
		return a.index - b.index
	})
	n := len(es)
	t := table[T]{keys: make([]uint64, n), nodes: make([]node[T], n)}
	size := 0
	for _, e := range es {
		size += len(e.prefix)
	}
	var arena strings.Builder
	arena.Grow(size)
	for _, e := range es {
		arena.WriteString(e.prefix)
	}
	rest := arena.String()

	depth := make([]int32, n)
	depthOf := func(i int32) int32 {
		if i < 0 {
			return 0 // the virtual root above every chain
		}
		return depth[i]
	}
	jumpOf := func(i int32) int32 {
		if i < 0 {
			return -1
		}
		return t.nodes[i].jump
	}
	// In pathOrder an entry's aligned descendants directly follow it, so a
	// stack of the open ancestors finds each entry's parent in one pass.
	var stack []int32
	for i, e := range es {
		if i > 0 && e.prefix == es[i-1].prefix {
			return table[T]{}, &[2]int{es[i-1].index, e.index}
		}
		nd := &t.nodes[i]
		nd.prefix, rest = rest[:len(e.prefix)], rest[len(e.prefix):]
		nd.value = e.value
		t.keys[i] = pathKey(e.prefix)
		for len(stack) > 0 && !alignedPrefix(t.nodes[stack[len(stack)-1]].prefix, e.prefix) {
			stack = stack[:len(stack)-1]
		}
		p := int32(-1)
		if len(stack) > 0 {
			p = stack[len(stack)-1]
		}
		nd.parent = p
		depth[i] = depthOf(p) + 1
		// Myers' skew-binary rule: jump two equal-length jumps at once
		// when the parent's jump and its jump's jump span the same depth.
		if jp := jumpOf(p); depthOf(p)-depthOf(jp) == depthOf(jp)-depthOf(jumpOf(jp)) {
			nd.jump = jumpOf(jp)
		} else {
			nd.jump = p
		}
		stack = append(stack, int32(i))
	}
	return t, nil
}

// lookup returns the value of the longest prefix in t that matches path on a
// segment boundary. It runs in O(log n) and allocates nothing.
func (t *table[T]) lookup(path string) (v T, ok bool) {
	// The greatest entry not above path, in pathOrder.
	key := pathKey(path)
	lo, hi := 0, len(t.keys)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if k := t.keys[mid]; k < key || k == key && pathOrder(t.nodes[mid].prefix, path) <= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return v, false
	}
	top := t.nodes[lo-1].prefix
	k := 0 // bytes top shares with path
	for k < len(top) && k < len(path) && top[k] == path[k] {
		k++
	}
	// The deepest ancestor-or-self of top no longer than k: it and every
	// ancestor above it are prefixes of path.
	x, _ := t.climb(int32(lo-1), k)
	if x < 0 {
		return v, false
	}
	// x is a prefix of path but may end inside a segment when it is exactly
	// k long ("/ab" for "/abc"); its parent is shorter than k, so it ends
	// where top, and therefore path, has a '/'.
	if p := t.nodes[x].prefix; len(p) > 0 && len(p) < len(path) && path[len(p)] != '/' {
		if x = t.nodes[x].parent; x < 0 {
			return v, false
		}
	}
	return t.nodes[x].value, true
}

// climb returns the deepest ancestor-or-self of x whose prefix is at most k
// bytes long (or -1) and the number of steps taken, O(log n). Lengths shrink
// up the chain, so a jump that still lands too long skips only too-long
// entries.
func (t *table[T]) climb(x int32, k int) (int32, int) {
	steps := 0
	for ; x >= 0 && len(t.nodes[x].prefix) > k; steps++ {
		if j := t.nodes[x].jump; j >= 0 && len(t.nodes[j].prefix) > k {
			x = j
		} else {
			x = t.nodes[x].parent
		}
	}
	return x, steps
}
