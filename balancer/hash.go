package balancer

import (
	"math/bits"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddy-smartproxy/smartproxy/backend"
)

// consistentHash places each request by a key (Config.HashKey) on a Maglev
// lookup table (Eisenbud et al., NSDI 2016): Build fills a table of prime
// size M, each backend claiming slots in its own pseudo-random order, in
// turns proportional to its weight; Pick hashes the key to a slot, O(1) with
// one table read. Shares follow the weights to within about 1%.
//
// When one of n backends leaves, its slots are shared out and a few others
// move, so a little more than 1/n of keys change backend: measured over
// 200,000 keys, 1.05/n for n = 10 and about 1.5/n for n = 100 (Maglev trades
// this for its balance and O(1) lookup; the excess grows with n/M, so M
// grows with n). M never shrinks over a Balancer's life: a smaller table
// after a backend leaves would move almost every key.
//
// Keys and backend names are hashed with FNV-1a (64-bit, inline, no
// allocation) followed by a murmur3 finalizer for avalanche. The hash has no
// random seed on purpose: a key maps to the same backend across reloads,
// restarts and every proxy instance with the same backends, whatever their
// configured order, which is what clients of a sticky strategy expect.
// (Seeded hashes defend hash tables against flooding; here a collision only
// sends two keys to one backend.)
//
// Requests whose key is "" (or a nil request) are placed by round robin, so
// clients without the header, say, are spread rather than piled onto one
// backend. Slow start does not apply: it would move keys off their backend.
type consistentHash struct {
	key  func(*http.Request) string
	next atomic.Uint64 // rotation for keyless requests

	mu   sync.Mutex // serialises Build
	size uint64     // the largest table size used; guarded by mu
}

type hashPicker struct {
	ch    *consistentHash
	live  []*backend.Backend
	table []uint32 // slot -> index in live
}

// Table sizing: at least slotsPerBackend slots for the lightest backend (the
// Maglev paper's M >= 100 N keeps each backend's share within about 1 % of
// its due, and removals move ~1/N of the keys: measured 0.97-1.16/N), and a
// prime of at least minTableSize (256 KiB) and about maxTableSize (4 MiB).
// Weights so skewed that the cap binds give the lightest backends fewer
// slots. 1,000 slots per backend (the first choice) cost 150 ms per build
// at 1,000 backends, on every availability change; 100 cost 26 ms.
const (
	slotsPerBackend = 100
	minTableSize    = 65537
	maxTableSize    = 1 << 20
)

// Build implements Balancer. It costs O(M log M) (measured here: about 3 ms
// for 10 backends, 6 ms for 100, 26 ms for 1,000); picks keep using the
// previous table meanwhile.
func (ch *consistentHash) Build(available []*backend.Backend) Picker {
	bs := live(available)
	if bs == nil {
		return nonePicker{}
	}
	ch.mu.Lock()
	ch.size = max(ch.size, tableSize(bs))
	m := ch.size
	ch.mu.Unlock()
	return &hashPicker{ch: ch, live: bs, table: maglevTable(bs, m)}
}

// tableSize returns the prime table size for the backends' weights.
func tableSize(bs []*backend.Backend) uint64 {
	total, lightest := 0.0, float64(bs[0].Weight())
	for _, b := range bs {
		total += float64(b.Weight())
		lightest = min(lightest, float64(b.Weight()))
	}
	want := min(max(slotsPerBackend*total/lightest, minTableSize), maxTableSize)
	return nextPrime(uint64(want))
}

// maglevTable fills the lookup table. Backends take turns in proportion to
// their weights: backend i's k-th turn falls at virtual time (2k+1)/weight,
// and turns are served in time order (ties in order of name, so the
// configured order of the backends does not change the placement) from a
// heap, O(M log n) whatever the weights. Each turn claims the next free
// slot in the backend's permutation offset + j*skip (mod M).
func maglevTable(bs []*backend.Backend, m uint64) []uint32 {
	n := len(bs)
	byName := make([]int, n)
	for i := range byName {
		byName[i] = i
	}
	slices.SortStableFunc(byName, func(a, b int) int { return strings.Compare(bs[a].Name, bs[b].Name) })
	queue := make(turnHeap, n)
	for rank, i := range byName {
		queue[rank] = turn{at: 1 / float64(bs[i].Weight()), rank: rank, i: i}
	}
	queue.init()
	pos := make([]uint64, n)
	skip := make([]uint64, n)
	for i, b := range bs {
		h := fnv1a(b.Name)
		pos[i] = mix64(h^0x9e3779b97f4a7c15) % m
		skip[i] = mix64(h^0xc2b2ae3d27d4eb4f)%(m-1) + 1
	}
	turns := make([]float64, n)
	const empty = ^uint32(0)
	table := make([]uint32, m)
	for s := range table {
		table[s] = empty
	}
	for filled := uint64(0); filled < m; filled++ {
		i := queue[0].i
		for table[pos[i]] != empty {
			if pos[i] += skip[i]; pos[i] >= m {
				pos[i] -= m
			}
		}
		table[pos[i]] = uint32(i)
		turns[i]++
		queue[0].at = (2*turns[i] + 1) / float64(bs[i].Weight())
		queue.down(0)
	}
	return table
}

// turn is a backend's next turn at filling the table.
type turn struct {
	at   float64 // virtual time
	rank int     // in order of name, for ties
	i    int     // index in the backends
}

// turnHeap is a binary min-heap of turns by (at, rank).
type turnHeap []turn

func (h turnHeap) less(a, b int) bool {
	return h[a].at < h[b].at || h[a].at == h[b].at && h[a].rank < h[b].rank
}

func (h turnHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h turnHeap) down(i int) {
	for {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h.less(l, least) {
			least = l
		}
		if r < len(h) && h.less(r, least) {
			least = r
		}
		if least == i {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}

// Pick implements Picker.
func (p *hashPicker) Pick(r *http.Request) *backend.Backend {
	var k string
	if r != nil {
		k = p.ch.key(r)
	}
	if k == "" {
		return p.live[(p.ch.next.Add(1)-1)%uint64(len(p.live))]
	}
	slot, _ := bits.Mul64(mix64(fnv1a(k)), uint64(len(p.table)))
	return p.live[p.table[slot]]
}

// fnv1a is 64-bit FNV-1a over s, without converting s to bytes.
func fnv1a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is murmur3's 64-bit finalizer: every input bit affects every output
// bit, which FNV alone does not give for short, similar keys (IP addresses).
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// nextPrime returns the smallest prime >= n (n >= 2), by trial division:
// Build calls it once, for n of at most maxTableSize.
func nextPrime(n uint64) uint64 {
	for ; ; n++ {
		prime := n >= 2
		for d := uint64(2); d*d <= n && prime; d++ {
			prime = n%d != 0
		}
		if prime {
			return n
		}
	}
}
