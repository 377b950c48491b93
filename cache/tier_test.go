package cache

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memShared is the store several memTiers share, standing in for Redis in
// the library's unit tests (the real tier is proven against a real Redis
// in caddytest).
type memShared struct {
	mu     sync.Mutex
	recs   map[string]map[string][]byte
	tags   map[string][]string
	locks  map[string]string
	subs   []*memTier
	puts   atomic.Int32
	failAt atomic.Bool // every call fails
}

func newMemShared() *memShared {
	return &memShared{recs: map[string]map[string][]byte{}, tags: map[string][]string{}, locks: map[string]string{}}
}

// memTier is one instance's view of a memShared.
type memTier struct {
	s         *memShared
	apply     func(TierPurge)
	maxRecord int
	wait      time.Duration
}

func (s *memShared) tier() *memTier {
	t := &memTier{s: s, maxRecord: 256 << 10, wait: 2 * time.Second}
	s.mu.Lock()
	s.subs = append(s.subs, t)
	s.mu.Unlock()
	return t
}

var errTierDown = errors.New("tier down")

func (t *memTier) Get(_ context.Context, key, field string) ([]byte, error) {
	if t.s.failAt.Load() {
		return nil, errTierDown
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	return t.s.recs[key][field], nil
}

func (t *memTier) Poll(_ context.Context, key string) ([]byte, bool, error) {
	if t.s.failAt.Load() {
		return nil, false, errTierDown
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	l := t.s.locks[key]
	return t.s.recs[key][""], l != "" && l != "pass", nil
}

func (t *memTier) Lock(_ context.Context, key string) (bool, error) {
	if t.s.failAt.Load() {
		return false, errTierDown
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if t.s.locks[key] != "" {
		return false, nil
	}
	t.s.locks[key] = "held"
	return true, nil
}

func (t *memTier) Pass(_ context.Context, key string) error {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.s.locks[key] = "pass"
	return nil
}

func (t *memTier) Put(_ context.Context, key string, recs []TierRecord, _ time.Duration, tags []string) error {
	if t.s.failAt.Load() {
		return errTierDown
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	m := t.s.recs[key]
	if m == nil {
		m = map[string][]byte{}
		t.s.recs[key] = m
	}
	for _, r := range recs {
		m[r.Field] = r.Data
	}
	for _, tag := range tags {
		t.s.tags[tag] = append(t.s.tags[tag], key)
	}
	delete(t.s.locks, key)
	t.s.puts.Add(1)
	return nil
}

func (t *memTier) Purge(_ context.Context, p TierPurge) error {
	t.s.mu.Lock()
	switch p.Kind {
	case PurgeKey:
		delete(t.s.recs, p.Arg)
	case PurgePrefix:
		for k := range t.s.recs {
			if strings.HasPrefix(k, p.Arg) {
				delete(t.s.recs, k)
			}
		}
	case PurgeTags:
		for _, tag := range p.Tags {
			for _, k := range t.s.tags[tag] {
				delete(t.s.recs, k)
			}
		}
	case PurgeAll:
		clear(t.s.recs)
	}
	subs := append([]*memTier(nil), t.s.subs...)
	t.s.mu.Unlock()
	for _, o := range subs {
		if o != t && o.apply != nil {
			o.apply(p)
		}
	}
	return nil
}

func (t *memTier) Subscribe(apply func(TierPurge)) { t.apply = apply }

func (t *memTier) Bounds() (int, time.Duration) { return t.maxRecord, t.wait }

// fleet is n caches sharing one memShared, on one driven clock.
func fleet(t *testing.T, n int, s Settings) ([]*Cache, *memShared, *clock) {
	t.Helper()
	sh := newMemShared()
	clk := newClock()
	var cs []*Cache
	for range n {
		s := s
		s.Tier = sh.tier()
		s.Now = clk.Now
		c, err := New(s)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs, sh, clk
}

func TestTierSharesEntriesWithTheirAge(t *testing.T) {
	cs, sh, clk := fleet(t, 2, Settings{})
	o := &origin{handler: respond(200, "shared body", "Cache-Control", "max-age=60", "Surrogate-Key", "t1", "X-A", "1")}
	if _, st := do(t, cs[0], "GET", "http://example.com/a", o.fetch); st != StatusMiss {
		t.Fatalf("first request: %v, want miss", st)
	}
	if sh.puts.Load() != 1 {
		t.Fatalf("%d puts to the tier, want 1", sh.puts.Load())
	}
	clk.Advance(7 * time.Second)
	w, st := do(t, cs[1], "GET", "http://example.com/a", o.fetch)
	if st != StatusSharedHit || o.calls.Load() != 1 {
		t.Fatalf("second instance: %v after %d backend calls, want a shared hit after 1", st, o.calls.Load())
	}
	if w.Body.String() != "shared body" || w.Header().Get("X-A") != "1" || w.Header().Get("Age") != "7" {
		t.Fatalf("shared hit: body %q, X-A %q, Age %q; want the stored response at Age 7", w.Body, w.Header().Get("X-A"), w.Header().Get("Age"))
	}
	if w.Header().Get("Surrogate-Key") != "" {
		t.Fatal("a shared hit leaked the tag field to the client")
	}
	if cs := cacheStatusOf(w); cs != "smartproxy; hit; detail=shared" {
		t.Fatalf("Cache-Status %q", cs)
	}
	// Now in the second instance's memory: a plain hit, no tier read.
	if _, st := do(t, cs[1], "GET", "http://example.com/a", o.fetch); st != StatusHit {
		t.Fatalf("third request: %v, want a memory hit", st)
	}
	// Past its freshness the tier's copy is no use either: a miss.
	clk.Advance(60 * time.Second)
	if _, st := do(t, cs[1], "GET", "http://example.com/b", o.fetch); st != StatusMiss {
		t.Fatalf("other URL: %v", st)
	}
	if got := cs[1].Stats().SharedHits; got != 1 {
		t.Fatalf("SharedHits %d, want 1", got)
	}
}

func TestTierVariants(t *testing.T) {
	cs, _, _ := fleet(t, 2, Settings{})
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		_, _ = w.Write([]byte("lang " + r.Header.Get("Accept-Language")))
	}}
	do(t, cs[0], "GET", "http://example.com/v", o.fetch, "Accept-Language", "fr")
	w, st := do(t, cs[1], "GET", "http://example.com/v", o.fetch, "Accept-Language", "fr")
	if st != StatusSharedHit || w.Body.String() != "lang fr" {
		t.Fatalf("fr on the second instance: %v %q", st, w.Body)
	}
	w, st = do(t, cs[1], "GET", "http://example.com/v", o.fetch, "Accept-Language", "de")
	if st != StatusMiss || w.Body.String() != "lang de" {
		t.Fatalf("de on the second instance: %v %q, want a miss", st, w.Body)
	}
}

func TestTierPurgesReachEveryInstance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		purge func(c *Cache)
	}{
		{"key", func(c *Cache) { c.Purge("GET http://example.com/p") }},
		{"prefix", func(c *Cache) { c.PurgePrefix("GET http://example.com/") }},
		{"tags", func(c *Cache) { c.PurgeTags("t1") }},
		{"all", func(c *Cache) { c.PurgeAll() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, _, _ := fleet(t, 3, Settings{})
			o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60", "Cache-Tag", "t1")}
			for _, c := range cs {
				do(t, c, "GET", "http://example.com/p", o.fetch)
			}
			if o.calls.Load() != 1 {
				t.Fatalf("%d backend calls to fill three instances, want 1", o.calls.Load())
			}
			tc.purge(cs[0])
			for i, c := range cs {
				if _, st := do(t, c, "GET", "http://example.com/p", o.fetch); i == 0 && st != StatusMiss {
					t.Fatalf("instance %d after the purge: %v, want a miss", i+1, st)
				}
			}
			if o.calls.Load() != 2 {
				t.Fatalf("%d backend calls after the purge, want 2 (one refill, shared)", o.calls.Load())
			}
			if e, _ := cs[2].store.get([]byte("GET http://example.com/p"), mustRequest("GET", "http://example.com/p")); e == nil {
				t.Fatal("the refill did not reach instance 3")
			}
		})
	}
}

func TestTierUnsafeRequestInvalidatesEveryInstance(t *testing.T) {
	cs, _, _ := fleet(t, 2, Settings{})
	o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60")}
	do(t, cs[0], "GET", "http://example.com/u", o.fetch)
	do(t, cs[1], "GET", "http://example.com/u", o.fetch)
	do(t, cs[0], "POST", "http://example.com/u", o.fetch)
	if _, st := do(t, cs[1], "GET", "http://example.com/u", o.fetch); st != StatusMiss {
		t.Fatalf("instance 2 after a POST on instance 1: %v, want a miss", st)
	}
}

// Concurrent cold misses on three instances: one backend request; the
// others wait for its fill through the tier.
func TestTierCoalescesAcrossInstances(t *testing.T) {
	cs, _, _ := fleet(t, 3, Settings{})
	release := make(chan struct{})
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("filled"))
	}}
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := httptest.NewRequest("GET", "http://example.com/cold", nil)
			w := httptest.NewRecorder()
			if _, err := cs[i%3].Serve(w, r, o.fetch); err != nil || w.Body.String() != "filled" {
				bad.Add(1)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // let every request reach its wait (no clock seam for goroutine scheduling)
	close(release)
	wg.Wait()
	if bad.Load() > 0 || o.calls.Load() != 1 {
		t.Fatalf("%d bad answers, %d backend calls; want 0 and 1", bad.Load(), o.calls.Load())
	}
}

// A response that cannot be shared marks the key pass: the instance
// waiting on the fill goes to the backend at once, not after the wait.
func TestTierPassReleasesWaiters(t *testing.T) {
	cs, sh, _ := fleet(t, 2, Settings{})
	for _, tr := range sh.subs {
		tr.wait = time.Minute
	}
	o := &origin{handler: respond(200, "private", "Cache-Control", "private")}
	// Instance 2 holds the lock as if it were filling.
	if ok, _ := sh.subs[1].Lock(context.Background(), "GET http://example.com/priv"); !ok {
		t.Fatal("lock")
	}
	done := make(chan Status, 1)
	go func() {
		_, st := do(t, cs[0], "GET", "http://example.com/priv", o.fetch)
		done <- st
	}()
	time.Sleep(30 * time.Millisecond)
	_ = sh.subs[1].Pass(context.Background(), "GET http://example.com/priv")
	select {
	case st := <-done:
		if st != StatusMiss {
			t.Fatalf("%v, want a miss", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter on a fill marked pass did not go to the backend")
	}
}

// A tier that fails is a miss, never an error, and the memory works on.
func TestTierDownIsAMiss(t *testing.T) {
	cs, sh, _ := fleet(t, 2, Settings{})
	sh.failAt.Store(true)
	o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60")}
	for i := range 2 {
		if _, st := do(t, cs[0], "GET", "http://example.com/d", o.fetch); st != []Status{StatusMiss, StatusHit}[i] {
			t.Fatalf("request %d with the tier down: %v", i, st)
		}
	}
}

// A corrupt or foreign record is a miss and is counted.
func TestTierRefusesBadRecords(t *testing.T) {
	cs, sh, _ := fleet(t, 2, Settings{})
	o := &origin{handler: respond(200, "x", "Cache-Control", "max-age=60")}
	do(t, cs[0], "GET", "http://example.com/a", o.fetch)
	sh.mu.Lock()
	good := sh.recs["GET http://example.com/a"][""]
	sh.recs["GET http://example.com/b"] = map[string][]byte{"": good} // a record moved to another key
	sh.recs["GET http://example.com/c"] = map[string][]byte{"": good[:len(good)-1]}
	sh.mu.Unlock()
	for _, u := range []string{"http://example.com/b", "http://example.com/c"} {
		if _, st := do(t, cs[1], "GET", u, o.fetch); st != StatusMiss {
			t.Fatalf("%s: %v, want a miss", u, st)
		}
	}
	if got := cs[1].Stats().SharedBad; got != 2 {
		t.Fatalf("SharedBad %d, want 2", got)
	}
}

// Entries over the tier's record limit stay local.
func TestTierKeepsLargeEntriesLocal(t *testing.T) {
	cs, sh, _ := fleet(t, 2, Settings{})
	sh.subs[0].maxRecord = 1 << 10
	o := &origin{handler: respond(200, strings.Repeat("x", 4<<10), "Cache-Control", "max-age=60")}
	do(t, cs[0], "GET", "http://example.com/big", o.fetch)
	if _, st := do(t, cs[0], "GET", "http://example.com/big", o.fetch); st != StatusHit {
		t.Fatalf("local: %v", st)
	}
	if sh.puts.Load() != 0 {
		t.Fatal("an entry over the record limit was written to the tier")
	}
}

// A HEAD is answered from its GET's entry in the tier, without a body.
func TestTierAnswersHead(t *testing.T) {
	cs, _, _ := fleet(t, 2, Settings{})
	o := &origin{handler: respond(200, "0123456789", "Cache-Control", "max-age=60")}
	do(t, cs[0], "GET", "http://example.com/h", o.fetch)
	w, st := do(t, cs[1], "HEAD", "http://example.com/h", o.fetch)
	if st != StatusSharedHit || o.calls.Load() != 1 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "10" {
		t.Fatalf("HEAD on the second instance: %v after %d backend calls, body %q, Content-Length %q",
			st, o.calls.Load(), w.Body, w.Header().Get("Content-Length"))
	}
}
