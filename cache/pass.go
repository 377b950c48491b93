package cache

import (
	"hash/maphash"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// After a response for a key could not be shared (private, no-store, too
// large, ...), misses for that key stop waiting on each other for
// passMemory, or until a response for it is stored: the next burst of
// requests to a private endpoint goes to the backend side by side instead
// of each waiting one header time for a leader whose answer it cannot use.
// Only the first burst after a change pays that wait. The memory holds
// passKeys keys at most, as 64-bit hashes (a collision only costs a key
// its coalescing), so long URLs cannot make it large.
const (
	passMemory = 30 * time.Second
	passKeys   = 4096
)

// passList remembers keys whose last response was not shareable. Guarded
// by flights.mu.
type passList struct {
	seed  maphash.Seed
	until *simplelru.LRU[uint64, time.Time]
}

func newPassList() passList {
	l, _ := simplelru.NewLRU[uint64, time.Time](passKeys, nil)
	return passList{seed: maphash.MakeSeed(), until: l}
}

// skip reports whether misses for key should not wait on each other at now.
func (p *passList) skip(key []byte, now time.Time) bool {
	if p.until.Len() == 0 {
		return false
	}
	h := maphash.Bytes(p.seed, key)
	t, ok := p.until.Peek(h)
	if ok && !now.Before(t) {
		p.until.Remove(h)
		return false
	}
	return ok
}

func (p *passList) mark(key string, now time.Time) {
	p.until.Add(maphash.String(p.seed, key), now.Add(passMemory))
}

func (p *passList) forget(key string) {
	if p.until.Len() > 0 {
		p.until.Remove(maphash.String(p.seed, key))
	}
}
