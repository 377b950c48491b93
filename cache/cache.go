package cache

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// FetchFunc forwards r to a backend and writes the backend's response to w.
// It returns an error only when no response could be obtained at all, in
// which case it wrote nothing to w; an error after it began writing means
// the response was cut short.
type FetchFunc func(w http.ResponseWriter, r *http.Request) error

// Fetch calls f.
func (f FetchFunc) Fetch(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// Fetcher forwards requests to a backend, as FetchFunc describes: what
// the cache calls on a miss, a bypass or a revalidation.
type Fetcher interface {
	Fetch(w http.ResponseWriter, r *http.Request) error
}

// Cache is an RFC 9111 shared HTTP cache used as middleware around a
// FetchFunc. It is safe for concurrent use and needs no Close (a shared
// fill's relay ends before its Serve returns; ServeBackground's
// revalidations end with the context it is given), so one instance can
// outlive config reloads (kept in a usage pool keyed by its Settings).
// Must not be copied.
type Cache struct {
	s       Settings
	store   *store
	flights flights
	stats   counters

	csOnlyIfCached []string
	csCoalesced    []string

	// hidden are the stored fields never sent to clients: the tag fields
	// unless ExposeTags, the targets with StripTargets.
	hidden []string

	// Background revalidations (swr.go): the keys being revalidated,
	// and a group the tests wait on.
	bgMu   sync.Mutex
	bgKeys map[string]struct{}
	bgWG   sync.WaitGroup
	csSWR  []string
}

// New returns a Cache for s, with zero fields set to their defaults, or an
// error wrapping ErrInvalidSettings naming the bad field.
func New(s Settings) (*Cache, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	c := &Cache{s: s}
	c.store = newStore(s.MaxSize, s.MaxBytes, s.MaxVariants, &c.stats)
	c.flights = newFlights(s.Now)
	c.csOnlyIfCached = []string{s.Name + "; detail=only-if-cached"}
	c.csCoalesced = []string{s.Name + "; fwd=uri-miss; collapsed"}
	c.csSWR = []string{s.Name + "; hit; fwd=stale; detail=stale-while-revalidate"}
	c.bgKeys = make(map[string]struct{})
	if !s.ExposeTags {
		c.hidden = append(c.hidden, s.TagHeaders...)
	}
	if s.StripTargets {
		c.hidden = append(c.hidden, s.Targets...)
	}
	if s.Tier != nil {
		s.Tier.Subscribe(c.applyPurge)
	}
	return c, nil
}

// Settings returns the settings in force, defaults applied.
func (c *Cache) Settings() Settings {
	return c.s
}

// appendKey builds the primary key of r. The default key is built by a
// direct call so that the caller's stack buffer does not escape; a custom
// KeyFunc, called through a func value, gets a heap buffer.
func (c *Cache) appendKey(stack []byte, r *http.Request) []byte {
	if c.s.KeyFunc != nil {
		return c.s.KeyFunc(make([]byte, 0, keyBufSize), r)
	}
	if c.s.IgnoreQuery {
		return keyWithoutQuery(stack, r)
	}
	return DefaultKey(stack, r)
}

// ageValues holds prebuilt Age values for the first ageTableSize seconds,
// so a hit does not format one. Never modified; a response gets its own
// slice holding the string (setOwnFields).
const ageTableSize = 4096

var ageValues = func() []string {
	t := make([]string, ageTableSize)
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// ageValue is the Age field's value for age.
func ageValue(age time.Duration) string {
	s := int64(age / time.Second)
	if s >= 0 && s < ageTableSize {
		return ageValues[s]
	}
	return strconv.FormatInt(max(s, 0), 10)
}

// cacheStatus builds a Cache-Status member for a forwarded response.
func (c *Cache) cacheStatus(fwd string, fwdStatus int, stored bool, detail string) string {
	s := c.s.Name + "; fwd=" + fwd
	if fwdStatus != 0 {
		s += "; fwd-status=" + strconv.Itoa(fwdStatus)
	}
	if stored {
		s += "; stored"
	}
	if detail != "" {
		s += "; detail=" + detail
	}
	return s
}
