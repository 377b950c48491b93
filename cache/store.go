package cache

import (
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// store holds the stored responses: a recency list bounded by count (the
// golang-lru simplelru list, with its eviction callback keeping the index
// and byte count in step) and by bytes (evicting from the cold end), plus
// an index from primary key to the Vary variants stored under it.
//
// Every operation a request can cause is O(1) under the lock: a URL's
// variants are found through one map keyed by primary and secondary key
// together (the secondary key is computed before the lock is taken), each
// URL keeps at most maxVariants of them on a list of its own, and when
// that list is full its least recently used variant goes. So one URL with
// a Vary on a header every client sets differently costs at most
// maxVariants entries and never slows down hits on other URLs. Only the
// admin's PurgePrefix and PurgeAll walk the index, and they let go of the
// lock every purgeBatch keys.
//
// simplelru rather than lru.Cache because the index must change atomically
// with the list: one mutex guards both, so lru.Cache's own lock would only
// be taken twice. Freshness is stored in each entry and checked on read;
// nothing runs in the background (no expirable.LRU, whose every instance
// starts a goroutine that never ends).
type store struct {
	mu          sync.Mutex
	lru         *simplelru.LRU[*entry, struct{}]
	primaries   map[string]*variants           // by primary key
	entries     map[string]*entry              // by entry.full: primary key, 0, secondary key
	tags        map[string]map[*entry]struct{} // by tag (tags.go)
	bytes       int64
	maxBytes    int64
	maxVariants int
	stats       *counters
}

// variants are the stored variants of one primary key, all selected by
// the same Vary names, most recently used first (a list through the
// entries' vprev/vnext, guarded by store.mu).
type variants struct {
	key        string
	names      []string // never modified: a new Vary starts a new variants
	head, tail *entry
	n          int
}

// variantsOverhead estimates the bytes a variants and its two index slots
// take beside the key itself.
const variantsOverhead = 128

// purgeBatch is how many index keys PurgePrefix looks at per lock hold.
const purgeBatch = 1024

func newStore(maxEntries int, maxBytes int64, maxVariants int, stats *counters) *store {
	s := &store{
		primaries: make(map[string]*variants), entries: make(map[string]*entry),
		tags:     make(map[string]map[*entry]struct{}),
		maxBytes: maxBytes, maxVariants: maxVariants, stats: stats,
	}
	s.lru, _ = simplelru.NewLRU[*entry, struct{}](maxEntries, s.unlink) // size > 0 after defaults
	return s
}

// unlink is the LRU's eviction callback: every removal, by eviction, purge
// or replacement, goes through it. It runs with s.mu held.
func (s *store) unlink(e *entry, _ struct{}) {
	s.bytes -= e.size
	s.unindexTags(e)
	if s.entries[e.full] == e {
		delete(s.entries, e.full)
	}
	v := e.group
	if v == nil {
		return
	}
	if e.vprev != nil {
		e.vprev.vnext = e.vnext
	} else {
		v.head = e.vnext
	}
	if e.vnext != nil {
		e.vnext.vprev = e.vprev
	} else {
		v.tail = e.vprev
	}
	e.vprev, e.vnext, e.group = nil, nil, nil
	if v.n--; v.n == 0 && s.primaries[v.key] == v {
		delete(s.primaries, v.key)
		s.bytes -= variantsOverhead + int64(len(v.key))
	}
}

// pushFront puts e at the head of v's recency list.
func (v *variants) pushFront(e *entry) {
	e.group, e.vprev, e.vnext = v, nil, v.head
	if v.head != nil {
		v.head.vprev = e
	} else {
		v.tail = e
	}
	v.head = e
	v.n++
}

// touch makes e the most recently used variant of its URL.
func (v *variants) touch(e *entry) {
	if v.head == e {
		return
	}
	e.vprev.vnext = e.vnext // e is not the head, so it has a vprev
	if e.vnext != nil {
		e.vnext.vprev = e.vprev
	} else {
		v.tail = e.vprev
	}
	e.vprev, e.vnext = nil, v.head
	v.head.vprev = e
	v.head = e
}

// get returns the stored variant of key that r selects, marking it
// recently used. known reports whether any variant of key is stored, to
// tell a URI miss from a Vary miss.
func (s *store) get(key []byte, r *http.Request) (e *entry, known bool) {
	s.mu.Lock()
	v := s.primaries[string(key)]
	if v == nil {
		s.mu.Unlock()
		return nil, false
	}
	if len(v.names) == 0 {
		e = v.head
		s.lru.Get(e)
		s.mu.Unlock()
		return e, true
	}
	names := v.names
	s.mu.Unlock()

	// The secondary key is built outside the lock: its cost grows with the
	// request's header values.
	var buf [2 * keyBufSize]byte
	full := appendSecondaryKey(append(append(buf[:0], key...), 0), r, names)
	s.mu.Lock()
	// The key check matters only for a KeyFunc whose keys hold a 0 byte,
	// where two (primary, secondary) pairs could join to one index key.
	if e = s.entries[string(full)]; e != nil && e.key == string(key) {
		s.lru.Get(e)
		e.group.touch(e)
	} else {
		e = nil
	}
	s.mu.Unlock()
	return e, true
}

// add stores e, replacing any variant of its key with the same secondary
// key, and every variant stored under a different Vary (the origin changed
// what it varies on, so those are outdated). A URL with maxVariants
// variants already loses its least recently used one. It then evicts from
// the cold end until the byte budget holds.
func (s *store) add(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.primaries[e.key]; v != nil && !slices.Equal(v.names, e.varyNames) {
		s.removeVariants(v) // at most maxVariants
	}
	if old := s.entries[e.full]; old != nil {
		s.lru.Remove(old)
	}
	v := s.primaries[e.key]
	if v != nil && v.n >= s.maxVariants {
		s.lru.Remove(v.tail)
		s.stats.evictions.Add(1)
		v = s.primaries[e.key] // gone if that was its last variant
	}
	if v == nil {
		v = &variants{key: e.key, names: e.varyNames}
		s.primaries[e.key] = v
		s.bytes += variantsOverhead + int64(len(v.key))
	}
	v.pushFront(e)
	s.entries[e.full] = e
	s.bytes += e.size
	s.indexTags(e)
	if s.lru.Add(e, struct{}{}) {
		s.stats.evictions.Add(1)
	}
	for s.bytes > s.maxBytes && s.lru.Len() > 0 {
		s.lru.RemoveOldest()
		s.stats.evictions.Add(1)
	}
}

// removeVariants removes every variant of v and returns how many there
// were. It runs with s.mu held.
func (s *store) removeVariants(v *variants) int {
	n := 0
	for v.head != nil {
		s.lru.Remove(v.head)
		n++
	}
	return n
}

// removePrefix removes every variant of each primary key starting with
// prefix and returns how many responses went. It walks the index, taking
// the lock for purgeBatch keys at a time so that requests are not held up
// behind a large purge; a key stored meanwhile may or may not be seen.
func (s *store) removePrefix(prefix string) int {
	n, seen := 0, 0
	s.mu.Lock()
	// Deleting and adding map entries between steps of a range is allowed;
	// every step runs with the lock held.
	for k, v := range s.primaries {
		if strings.HasPrefix(k, prefix) {
			n += s.removeVariants(v)
		}
		if seen++; seen%purgeBatch == 0 {
			s.mu.Unlock()
			s.mu.Lock()
		}
	}
	s.mu.Unlock()
	return n
}

func (s *store) removeKey(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.primaries[key]; v != nil {
		return s.removeVariants(v)
	}
	return 0
}

// removeAll removes the responses stored when it starts, purgeBatch per
// lock hold from the cold end, and returns how many went.
func (s *store) removeAll() int {
	s.mu.Lock()
	todo := s.lru.Len()
	n := 0
	for n < todo && s.lru.Len() > 0 {
		if _, _, ok := s.lru.RemoveOldest(); ok {
			n++
		}
		if n%purgeBatch == 0 {
			s.mu.Unlock()
			s.mu.Lock()
		}
	}
	s.mu.Unlock()
	return n
}

func (s *store) size() (entries int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len(), s.bytes
}

// Purge removes every stored variant of the primary key (format: see
// DefaultKey, e.g. "GET https://example.com/a?x=1") and returns how many
// responses were removed.
func (c *Cache) Purge(key string) int {
	c.purgeTier(TierPurge{Kind: PurgeKey, Arg: key})
	return c.store.removeKey(key)
}

// PurgePrefix removes every stored response whose primary key starts with
// prefix (e.g. "GET https://example.com/static/") and returns how many were
// removed. It walks the whole index, a batch of keys per lock hold.
func (c *Cache) PurgePrefix(prefix string) int {
	c.purgeTier(TierPurge{Kind: PurgePrefix, Arg: prefix})
	return c.store.removePrefix(prefix)
}

// PurgeAll empties the cache and returns how many responses were removed.
func (c *Cache) PurgeAll() int {
	c.purgeTier(TierPurge{Kind: PurgeAll})
	return c.store.removeAll()
}
