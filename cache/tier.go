package cache

import (
	"context"
	"net/http"
	"time"
)

// A shared tier (Settings.Tier) puts a store that several Caches share,
// one per proxy instance, behind this Cache's memory:
//
//   - A request the memory cannot answer looks in the tier before the
//     backend; an acceptable entry found there is stored in memory and
//     served (StatusSharedHit); a HEAD is answered from its GET's entry.
//     Of concurrent GET misses on one instance only the flight's leader
//     looks, so they cost the tier one lookup.
//   - Fleet-wide coalescing: a leader that finds nothing takes the key's
//     fill lock in the tier. Holding it, it fetches and stores; when
//     another instance holds it, it polls the tier for the entry that
//     instance is filling until the entry is there, the lock is gone or
//     marked pass (the response could not be shared), or the tier's wait
//     runs out, and then fetches itself. It never waits longer than the
//     wait, nor past its request's context.
//   - An entry stored in memory is written to the tier too when its record
//     fits the tier's record limit, for as long as it may be served:
//     its remaining freshness plus the stale windows (StaleIfError, its
//     stale-while-revalidate) that apply. Larger entries stay local.
//   - Purge, PurgePrefix, PurgeTags, PurgeAll and the invalidation by
//     unsafe requests purge the tier as well, and the tier tells every
//     other Cache on it to purge its memory alike (Tier.Subscribe).
//
// The tier's failures never fail a request: an error is a miss (or, for
// a write, nothing shared), and the Tier itself is expected to bound every
// call by a timeout and to answer at once while it knows its store is
// down. Records are decoded with every check of record.go: a corrupt,
// foreign or oversized record is a miss.

// Tier is a store shared by the Caches of several proxy instances. Its
// keys are Cache primary keys; it must scope them itself (by site and
// route) when one store serves several caches. Implementations bound every
// call by their own timeout.
type Tier interface {
	// Get returns the record stored for key under field: "" for the
	// primary record (an entry, or the Vary names of the URL), a secondary
	// key for a variant. nil and no error: nothing stored.
	Get(ctx context.Context, key, field string) ([]byte, error)

	// Poll returns key's primary record, and whether another cache holds
	// key's fill lock (false also when the lock is marked pass).
	Poll(ctx context.Context, key string) (rec []byte, locked bool, err error)

	// Lock takes key's fill lock; false when another cache holds it or
	// it is marked pass.
	Lock(ctx context.Context, key string) (bool, error)

	// Pass replaces key's fill lock by a pass mark: the response could
	// not be shared, so for a while no cache waits on fills of key.
	Pass(ctx context.Context, key string) error

	// Put stores recs under key for ttl, indexed by tags for PurgeTags,
	// and releases key's fill lock.
	Put(ctx context.Context, key string, recs []TierRecord, ttl time.Duration, tags []string) error

	// Purge removes what p names from the tier and tells every other
	// Cache subscribed to it.
	Purge(ctx context.Context, p TierPurge) error

	// Subscribe makes the tier call apply for every purge another Cache
	// on it made. A Cache subscribes once, in New.
	Subscribe(apply func(TierPurge))

	// Bounds are the largest record Put takes and the longest a cache
	// waits for another's fill.
	Bounds() (maxRecord int, wait time.Duration)
}

// TierRecord is one field of a key in a Tier.
type TierRecord struct {
	Field string
	Data  []byte
}

// PurgeKind says what a TierPurge removes.
type PurgeKind uint8

// Purge kinds.
const (
	PurgeKey    PurgeKind = iota + 1 // every variant of the primary key Arg
	PurgePrefix                      // every primary key starting with Arg
	PurgeTags                        // every response carrying one of Tags
	PurgeAll                         // everything
)

// TierPurge is one purge, as the tier carries it to other caches.
type TierPurge struct {
	Kind PurgeKind
	Arg  string
	Tags []string
}

// tierPollFirst and tierPollMax are the first and the longest pause
// between polls for another instance's fill.
const (
	tierPollFirst = 5 * time.Millisecond
	tierPollMax   = 50 * time.Millisecond
)

// fromTier answers r from the tier when it holds an acceptable entry for
// key, possibly after waiting for another instance's fill. fl is the
// flight r leads (nil when it leads none; it then takes no lock). It
// reports whether r was answered, and whether r now holds key's fill lock.
func (c *Cache) fromTier(w http.ResponseWriter, r *http.Request, key []byte, fl *flight, rq requestDirectives) (served, locked bool) {
	t := c.s.Tier
	ctx := r.Context()
	k := string(key)
	e := c.tierEntry(ctx, r, k, nil)
	if e == nil && fl != nil {
		ok, err := t.Lock(ctx, k)
		if err != nil {
			return false, false
		}
		if ok {
			return false, true
		}
		e = c.awaitTier(ctx, r, k)
	}
	if e == nil {
		return false, false
	}
	age := e.currentAge(c.s.Now())
	if !acceptable(e, age, rq) {
		return false, false
	}
	c.store.add(e)
	c.flights.stored(e.key)
	c.stats.sharedHits.Add(1)
	if fl != nil {
		c.flights.decide(fl, true, e.varyNames, e.secondary)
		c.flights.finish(fl, e)
	}
	n := len(e.hitStatus) - 1
	cs := append(e.hitStatus[:n:n], c.s.Name+"; hit; detail=shared")
	c.writeEntry(w, r, e, age, cs)
	return true, false
}

// tierEntry returns the entry the tier holds for r under key, reading the
// primary record (or using rec, already read) and then, for a URL that
// varies, r's variant; nil when there is none or a record is bad.
func (c *Cache) tierEntry(ctx context.Context, r *http.Request, key string, rec []byte) *entry {
	t := c.s.Tier
	if rec == nil {
		var err error
		if rec, err = t.Get(ctx, key, ""); err != nil || rec == nil {
			return nil
		}
	}
	e, names, err := c.decodeRecord(rec, key, "")
	if err != nil {
		c.stats.sharedBad.Add(1)
		return nil
	}
	if e != nil {
		return e
	}
	secondary := string(appendSecondaryKey(nil, r, names))
	rec, err = t.Get(ctx, key, secondary)
	if err != nil || rec == nil {
		return nil
	}
	if e, _, err = c.decodeRecord(rec, key, secondary); err != nil {
		c.stats.sharedBad.Add(1)
		return nil
	}
	return e
}

// awaitTier polls the tier for the entry another instance is filling for
// key, until it is there, the fill lock is gone, the tier's wait has
// passed or ctx ends.
func (c *Cache) awaitTier(ctx context.Context, r *http.Request, key string) *entry {
	t := c.s.Tier
	_, wait := t.Bounds()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	pause := time.NewTimer(tierPollFirst)
	defer pause.Stop()
	d := tierPollFirst
	for {
		select {
		case <-pause.C:
		case <-timeout.C:
			return nil
		case <-ctx.Done():
			return nil
		}
		rec, locked, err := t.Poll(ctx, key)
		switch {
		case err != nil:
			return nil
		case rec != nil:
			return c.tierEntry(ctx, r, key, rec)
		case !locked:
			return nil
		}
		d = min(2*d, tierPollMax)
		pause.Reset(d)
	}
}

// share writes what rec stored to the tier, or, when rec holds the key's
// fill lock and stored nothing the tier takes, marks the key pass. It runs
// once, after the local waiters were released.
func (rec *recorder) share() {
	c := rec.c
	t := c.s.Tier
	if t == nil || rec.shared {
		return
	}
	rec.shared = true
	ctx := context.WithoutCancel(rec.r.Context()) // the fill is for others too
	if rec.stored != nil && c.putTier(ctx, rec.stored) {
		return
	}
	if rec.tierLocked {
		_ = t.Pass(ctx, rec.key)
	}
}

// putTier writes e to the tier for as long as it may be served, and
// reports whether it did: an entry whose record is over the tier's limit,
// or that may be served for less than a second, stays local.
func (c *Cache) putTier(ctx context.Context, e *entry) bool {
	t := c.s.Tier
	maxRecord, _ := t.Bounds()
	ttl := e.lifetime - e.currentAge(c.s.Now())
	if !e.noStale && !e.noCache {
		ttl += max(c.s.StaleIfError, e.swr)
	}
	if ttl < time.Second || e.size > int64(maxRecord) {
		return false
	}
	data := e.appendRecord(make([]byte, 0, len(e.body)+512))
	if len(data) > maxRecord {
		return false
	}
	recs := []TierRecord{{Field: e.secondary, Data: data}}
	if len(e.varyNames) > 0 {
		recs = append(recs, TierRecord{Data: appendVaryRecord(nil, e.key, e.varyNames)})
	}
	if err := t.Put(ctx, e.key, recs, ttl, e.tags); err != nil {
		return false
	}
	c.stats.sharedStores.Add(1)
	return true
}

// purgeTier passes a purge made here on to the tier, if any.
func (c *Cache) purgeTier(p TierPurge) {
	if t := c.s.Tier; t != nil {
		_ = t.Purge(context.Background(), p)
	}
}

// applyPurge is the purge another Cache on the tier made, applied to this
// Cache's memory only.
func (c *Cache) applyPurge(p TierPurge) {
	switch p.Kind {
	case PurgeKey:
		c.store.removeKey(p.Arg)
	case PurgePrefix:
		c.store.removePrefix(p.Arg)
	case PurgeTags:
		c.store.removeTags(p.Tags)
	case PurgeAll:
		c.store.removeAll()
	}
}
