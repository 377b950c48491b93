package ratelimit

import (
	"strings"
	"sync"
)

// evictScan is how many least-recently-used keys a full shard inspects for a
// full (evictable) bucket before sending a new key to the overflow bucket.
// The tail is almost always full, since it is the key idle the longest; a few
// more cover a tail drained by a slow-refilling key. It bounds the work a new
// key costs.
const evictScan = 8

// none marks the end of a shard's LRU list.
const none int32 = -1

// slot is one stored key and its bucket, linked into its shard's LRU list by
// index so that moving a key costs no allocation.
type slot struct {
	key        string
	b          bucket
	prev, next int32
}

// shard is one lock's worth of the key store: a map from key to slot index
// and an LRU list over the slots, most recent at head.
type shard struct {
	mu       sync.Mutex
	index    map[string]int32
	slots    []slot
	head     int32
	tail     int32
	capacity int
	// evictions counts full buckets evicted to make room for new keys.
	evictions uint64
	// Keep neighbouring shards' locks on separate cache lines.
	_ [64]byte
}

// init prepares an empty shard holding at most capacity keys.
func (s *shard) init(capacity int) {
	s.index = make(map[string]int32)
	s.head, s.tail = none, none
	s.capacity = capacity
}

// unlink removes slot i from the LRU list.
func (s *shard) unlink(i int32) {
	sl := &s.slots[i]
	if sl.prev != none {
		s.slots[sl.prev].next = sl.next
	} else {
		s.head = sl.next
	}
	if sl.next != none {
		s.slots[sl.next].prev = sl.prev
	} else {
		s.tail = sl.prev
	}
}

// pushFront links slot i in as the most recently used.
func (s *shard) pushFront(i int32) {
	sl := &s.slots[i]
	sl.prev, sl.next = none, s.head
	if s.head != none {
		s.slots[s.head].prev = i
	} else {
		s.tail = i
	}
	s.head = i
}

// touch marks slot i as the most recently used.
func (s *shard) touch(i int32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}

// outcome says how admit found room for a new key.
type outcome uint8

const (
	added   outcome = iota // a free slot was used
	evicted                // a full bucket was evicted to make room
	refused                // no room: the key must use the overflow bucket
)

// admit stores key with a full bucket and returns its slot, evicting a full
// bucket when the shard is at capacity. It returns refused and stores
// nothing when the evictScan least-recently-used buckets are all still
// draining. The stored copy of key is the only allocation. The caller holds
// s.mu.
func admit[K keyBytes](s *shard, key K, p *params, now int64) (int32, outcome) {
	if len(s.slots) < s.capacity {
		if len(s.slots) == cap(s.slots) {
			s.grow()
		}
		i := int32(len(s.slots))
		s.slots = append(s.slots, slot{key: strings.Clone(string(key)), b: p.full(now)})
		s.index[s.slots[i].key] = i
		s.pushFront(i)
		return i, added
	}
	i := s.tail
	for n := 0; n < evictScan && i != none; n++ {
		if p.isFull(&s.slots[i].b, now) {
			delete(s.index, s.slots[i].key)
			s.unlink(i)
			s.slots[i].key = strings.Clone(string(key))
			s.slots[i].b = p.full(now)
			s.index[s.slots[i].key] = i
			s.pushFront(i)
			s.evictions++
			return i, evicted
		}
		i = s.slots[i].prev
	}
	return none, refused
}

// grow enlarges the slot slice, doubling but never past capacity, so a full
// shard holds no unused tail of slots.
func (s *shard) grow() {
	n := max(8, 2*cap(s.slots))
	n = min(n, s.capacity)
	grown := make([]slot, len(s.slots), n)
	copy(grown, s.slots)
	s.slots = grown
}

// len reports the number of stored keys. The caller holds s.mu.
func (s *shard) len() int { return len(s.index) }
