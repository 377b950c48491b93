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
// simplelru rather than lru.Cache because the index must change atomically
// with the list: one mutex guards both, so lru.Cache's own lock would only
// be taken twice. Freshness is stored in each entry and checked on read;
// nothing runs in the background (no expirable.LRU, whose every instance
// starts a goroutine that never ends).
type store struct {
	mu        sync.Mutex
	lru       *simplelru.LRU[*entry, struct{}]
	primaries map[string][]*entry // newest variant first
	bytes     int64
	maxBytes  int64
	stats     *counters
}

func newStore(maxEntries int, maxBytes int64, stats *counters) *store {
	s := &store{primaries: make(map[string][]*entry), maxBytes: maxBytes, stats: stats}
	s.lru, _ = simplelru.NewLRU[*entry, struct{}](maxEntries, s.unlink) // size > 0 after defaults
	return s
}

// unlink is the LRU's eviction callback: every removal, by eviction, purge
// or replacement, goes through it. It runs with s.mu held.
func (s *store) unlink(e *entry, _ struct{}) {
	s.bytes -= e.size
	vs := s.primaries[e.key]
	if i := slices.Index(vs, e); i >= 0 {
		vs = slices.Delete(vs, i, i+1)
	}
	if len(vs) == 0 {
		delete(s.primaries, e.key)
	} else {
		s.primaries[e.key] = vs
	}
}

// get returns the stored variant of key that r selects, marking it
// recently used. known reports whether any variant of key is stored, to
// tell a URI miss from a Vary miss.
func (s *store) get(key []byte, r *http.Request) (e *entry, known bool) {
	s.mu.Lock()
	vs := s.primaries[string(key)]
	for _, v := range vs {
		if v.matches(r) {
			s.lru.Get(v)
			s.mu.Unlock()
			return v, true
		}
	}
	s.mu.Unlock()
	return nil, len(vs) > 0
}

// add stores e, replacing any variant of its key with the same secondary
// key, and every variant stored under a different Vary (the origin changed
// what it varies on, so those are outdated). It then evicts from the cold
// end until the byte budget holds.
func (s *store) add(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range slices.Clone(s.primaries[e.key]) {
		if v.secondary == e.secondary || !slices.Equal(v.varyNames, e.varyNames) {
			s.lru.Remove(v)
		}
	}
	s.primaries[e.key] = slices.Insert(s.primaries[e.key], 0, e)
	s.bytes += e.size
	if s.lru.Add(e, struct{}{}) {
		s.stats.evictions.Add(1)
	}
	for s.bytes > s.maxBytes && s.lru.Len() > 0 {
		s.lru.RemoveOldest()
		s.stats.evictions.Add(1)
	}
}

// remove removes every variant of each key chosen by match and returns
// how many responses went.
func (s *store) remove(match func(key string) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var doomed []*entry
	for k, vs := range s.primaries {
		if match(k) {
			doomed = append(doomed, vs...)
		}
	}
	for _, e := range doomed {
		s.lru.Remove(e)
	}
	return len(doomed)
}

func (s *store) removeKey(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := slices.Clone(s.primaries[key])
	for _, e := range vs {
		s.lru.Remove(e)
	}
	return len(vs)
}

func (s *store) removeAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.lru.Len()
	s.lru.Purge()
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
	return c.store.removeKey(key)
}

// PurgePrefix removes every stored response whose primary key starts with
// prefix (e.g. "GET https://example.com/static/") and returns how many were
// removed. It walks the whole index under the store lock.
func (c *Cache) PurgePrefix(prefix string) int {
	return c.store.remove(func(k string) bool { return strings.HasPrefix(k, prefix) })
}

// PurgeAll empties the cache and returns how many responses were removed.
func (c *Cache) PurgeAll() int {
	return c.store.removeAll()
}
