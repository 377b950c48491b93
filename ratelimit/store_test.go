package ratelimit

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// stored reports whether key currently has a slot in l's store.
func (l *Limiter) stored(key string) bool {
	s, k := l.locate(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.index[k]
	return ok
}

// lruOrder lists a shard's keys from most to least recently used.
func (s *shard) lruOrder() []string {
	var keys []string
	for i := s.head; i != none; i = s.slots[i].next {
		keys = append(keys, s.slots[i].key)
	}
	return keys
}

func TestEvictsOnlyFullBuckets(t *testing.T) {
	ms := time.Millisecond
	l := mustNew(t, Settings{RequestsPerSecond: 100, Burst: 10, MaxKeys: 2})
	l.Allow("a", t0)           // a: 9 tokens, full again at t0+10ms
	l.Allow("b", t0.Add(5*ms)) // b: 9 tokens, full again at t0+15ms

	// At t0+8ms neither is full: c may not push one out and is decided by
	// the overflow bucket instead.
	if d := l.Allow("c", t0.Add(8*ms)); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("c through overflow: %+v, want allowed with 9 left in the overflow bucket", d)
	}
	if l.stored("c") || l.Keys() != 2 || l.Evictions() != 0 || l.Overflowed() != 1 {
		t.Fatalf("after c: stored(c)=%v Keys=%d Evictions=%d Overflowed=%d; want false 2 0 1",
			l.stored("c"), l.Keys(), l.Evictions(), l.Overflowed())
	}

	// At t0+12ms a (the least recently used) is full and is evicted for c.
	l.Allow("c", t0.Add(12*ms))
	if !l.stored("c") || l.stored("a") || !l.stored("b") || l.Evictions() != 1 || l.Keys() != 2 {
		t.Fatalf("at t0+12ms: stored a=%v b=%v c=%v, Evictions=%d Keys=%d; want a evicted for c",
			l.stored("a"), l.stored("b"), l.stored("c"), l.Evictions(), l.Keys())
	}
	if got := l.shards[0].lruOrder(); len(got) != 2 || got[0] != "c" || got[1] != "b" {
		t.Fatalf("LRU order %v, want [c b]", got)
	}
}

func TestRecentUseProtectsFromEviction(t *testing.T) {
	l := mustNew(t, Settings{RequestsPerSecond: 1, Burst: 5, MaxKeys: 2})
	l.Allow("a", t0)
	l.Allow("b", t0)
	// Both are full by t0+2s; a refused-or-allowed request makes a the
	// most recent, so b, now the tail, is the one evicted.
	t1 := t0.Add(2 * time.Second)
	l.Allow("a", t1)
	l.Allow("c", t1)
	if !l.stored("a") || l.stored("b") || !l.stored("c") {
		t.Fatalf("stored a=%v b=%v c=%v; want b (least recent) evicted", l.stored("a"), l.stored("b"), l.stored("c"))
	}
}

func TestEvictionScansPastDrainingTail(t *testing.T) {
	ms := time.Millisecond
	l := mustNew(t, Settings{RequestsPerSecond: 100, Burst: 10, MaxKeys: 2})
	drain(l, "heavy", t0, 100)         // 0 tokens, full only at t0+100ms
	l.Allow("light", t0.Add(1*ms))     // 9 tokens, full at t0+11ms
	l.Allow("newcomer", t0.Add(15*ms)) // tail "heavy" holds 1.5 tokens; "light" is full
	if !l.stored("heavy") || l.stored("light") || !l.stored("newcomer") {
		t.Fatalf("stored heavy=%v light=%v newcomer=%v; want light evicted, the draining tail kept",
			l.stored("heavy"), l.stored("light"), l.stored("newcomer"))
	}
	// The heavy key did not get a fresh bucket out of it.
	if d := l.Allow("heavy", t0.Add(15*ms)); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("heavy at t0+15ms: %+v, want allowed with 0 left (1.5 tokens refilled)", d)
	}
}

func TestNewKeyFloodSharesOverflowBucket(t *testing.T) {
	l := mustNew(t, Settings{RequestsPerSecond: 100, Burst: 10, MaxKeys: 50})
	// Fill the store with keys that are all draining at t0.
	for i := range 50 {
		l.Allow("resident-"+strconv.Itoa(i), t0)
	}
	// 1000 fresh keys at the same instant share one bucket: 10 get through.
	allowed := 0
	for i := range 1000 {
		if l.Allow("flood-"+strconv.Itoa(i), t0).Allowed {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("flood of 1000 new keys at t0: %d allowed, want 10 (one shared burst)", allowed)
	}
	if l.Keys() != 50 || l.Evictions() != 0 || l.Overflowed() != 1000 {
		t.Fatalf("Keys=%d Evictions=%d Overflowed=%d, want 50 0 1000", l.Keys(), l.Evictions(), l.Overflowed())
	}
	// Residents keep their own buckets meanwhile.
	if n := drain(l, "resident-7", t0, 100); n != 9 {
		t.Fatalf("resident-7 got %d more at t0, want 9", n)
	}
}

// TestEvictionIsInvisible drives a tiny store with many keys and checks each
// decision against an unbounded store of x/time/rate limiters that sees only
// the requests charged to each key's own bucket. Evicting full buckets must
// change no decision: an evicted key that returns behaves as if it had
// stayed.
func TestEvictionIsInvisible(t *testing.T) {
	for _, maxKeys := range []int{1, 3, 8, 40} {
		t.Run(strconv.Itoa(maxKeys), func(t *testing.T) {
			s := Settings{RequestsPerSecond: 20, Burst: 3, MaxKeys: maxKeys}
			l := mustNew(t, s)
			ref := map[string]*rate.Limiter{}
			r := rand.New(rand.NewPCG(uint64(maxKeys), 9))
			at := t0
			for i := range 20_000 {
				at = at.Add(time.Duration(r.ExpFloat64() * float64(5*time.Millisecond)))
				key := "k" + strconv.Itoa(r.IntN(3*maxKeys+2))
				before := l.Overflowed()
				got := l.Allow(key, at)
				if l.Overflowed() != before {
					continue // decided by the overflow bucket; key's own bucket untouched
				}
				rl := ref[key]
				if rl == nil {
					rl = rate.NewLimiter(rate.Limit(s.RequestsPerSecond), s.Burst)
					ref[key] = rl
				}
				if want := rl.AllowN(at, 1); got.Allowed != want {
					t.Fatalf("request %d for %s at t0+%v: Allowed %v, unbounded store says %v",
						i, key, at.Sub(t0), got.Allowed, want)
				}
				if l.Keys() > maxKeys {
					t.Fatalf("Keys() = %d > MaxKeys %d", l.Keys(), maxKeys)
				}
			}
			if l.Evictions() == 0 {
				t.Fatal("the script never evicted: it tests nothing")
			}
		})
	}
}
