package cache

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddy-smartproxy/smartproxy/config/fielderr"
)

// ErrInvalidSettings is wrapped by every error Validate and New return, so a
// caller can tell bad configuration from other failures with errors.Is.
var ErrInvalidSettings = errors.New("invalid cache settings")

// Defaults applied to zero Settings fields.
const (
	// DefaultMaxSize matches the seed configuration's cache.max_size.
	DefaultMaxSize = 1000
	// DefaultMaxBytes bounds memory so that a default cache cannot grow past
	// what a small proxy host can spare.
	DefaultMaxBytes int64 = 64 << 20
	// DefaultMaxEntryBytes keeps one response from taking more than a
	// sixty-fourth of the default memory budget; larger bodies stream through.
	DefaultMaxEntryBytes int64 = 1 << 20
	// DefaultMaxVariants keeps a URL whose Vary names a header that every
	// client sets differently from taking more than a few entries.
	DefaultMaxVariants = 16
	// DefaultCoalesceTimeout bounds how long a request waits for another
	// request's in-flight fetch of the same key before fetching on its own.
	DefaultCoalesceTimeout = 10 * time.Second
	// DefaultName is the cache identifier written in Cache-Status fields.
	DefaultName = "smartproxy"
)

// defaultCacheableStatuses are the status codes RFC 9110 §15.1 defines as
// heuristically cacheable, less 206 (range requests are not cached).
var defaultCacheableStatuses = []int{200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501}

// Settings configures a Cache. The zero value is usable: every zero field
// gets the default its comment states.
type Settings struct {
	// MaxSize is the maximum number of stored responses (each Vary variant
	// counts as one). Default: 1000.
	MaxSize int

	// MaxBytes is the maximum memory, in bytes, held by stored responses:
	// bodies, header names and values, keys, and fixed estimates for the
	// structures around them (per entry, per header, per URL; see size.go).
	// The least recently used responses are evicted past it. The live heap
	// the cache holds stays within 2× MaxBytes even for many small entries
	// with many headers, and near 1× otherwise. Default: 64 MiB.
	MaxBytes int64

	// MaxEntryBytes is the largest response stored, counting its stored
	// headers (names, values and per-header overhead) and body together.
	// A larger response is streamed to the client unchanged and not
	// stored; the cache never holds more than this many body bytes of it.
	// Must not exceed MaxBytes. Default: 1 MiB.
	MaxEntryBytes int64

	// MaxVariants is the most Vary variants stored for one URL (primary
	// key). Storing one more evicts that URL's least recently used
	// variant, so a Vary on a header that every client sets differently
	// costs at most this many entries. Default: 16.
	MaxVariants int

	// TTL is the heuristic freshness lifetime given to a response that has
	// no explicit freshness (no max-age, s-maxage or Expires) and whose
	// status is in CacheableStatuses (or that says public). Zero turns the
	// heuristic off: only explicitly fresh responses (or ones carrying a
	// validator and no-cache/max-age=0, which are kept for revalidation)
	// are stored. It is the seed configuration's cache.ttl. Default: 0.
	TTL time.Duration

	// MaxTTL caps every freshness lifetime, explicit or heuristic, so an
	// origin cannot pin a response for longer than the operator allows.
	// Zero means no cap. Default: 0.
	MaxTTL time.Duration

	// StaleIfError is how long past its freshness a stored response may
	// still be served when fetch fails (returns an error) or answers 500,
	// 502, 503 or 504, unless the response said must-revalidate,
	// proxy-revalidate or s-maxage. Zero turns the fallback off.
	// Default: 0.
	StaleIfError time.Duration

	// StaleWhileRevalidate is the stale-while-revalidate window (RFC 5861)
	// of responses that state none: how long past freshness a stored
	// response is served at once while one background request
	// revalidates it (only through ServeBackground; see swr.go). Zero
	// leaves it to the responses' own directive. Default: 0.
	StaleWhileRevalidate time.Duration

	// CoalesceTimeout bounds how long a request waits for a concurrent
	// request's fetch of the same key (it also stops waiting when its own
	// context ends, and at once when that fetch's response headers show it
	// cannot answer this request). Default: 10s.
	CoalesceTimeout time.Duration

	// AllowSetCookie lets responses carrying Set-Cookie be stored (and the
	// cookie replayed to every client). Default: false, because a shared
	// cache that replays one user's cookie to another is a classic leak.
	AllowSetCookie bool

	// IgnoreQuery drops the query string from the default cache key, so
	// /a?x=1 and /a?x=2 share one entry. Ignored when KeyFunc is set.
	// Default: false.
	IgnoreQuery bool

	// KeyFunc appends the primary cache key of r to dst and returns the
	// extended slice. It is called for GET and HEAD requests and, to
	// invalidate, for synthetic GET requests built from an unsafe request's
	// target, Location and Content-Location. It must be deterministic. A
	// custom KeyFunc costs one small allocation per request (called through
	// a func value, its buffer cannot live on the stack); the default key
	// costs none. Default: DefaultKey (honouring IgnoreQuery).
	KeyFunc func(dst []byte, r *http.Request) []byte

	// CacheableStatuses are the status codes that receive the heuristic
	// TTL. A response with explicit freshness may be stored whatever its
	// final status (except 206 and 304). Default: 200, 203, 204, 300, 301,
	// 308, 404, 405, 410, 414, 501.
	CacheableStatuses []int

	// TagHeaders are the response fields whose values tag a stored
	// response for PurgeTags: tags separated by spaces or commas (so both
	// Surrogate-Key's and Cache-Tag's lists read right). At most 64 tags
	// of at most 256 bytes each are kept per response. Default:
	// Surrogate-Key, Cache-Tag.
	TagHeaders []string

	// ExposeTags sends the TagHeaders fields on to clients. Default:
	// false: they are the origin's note to this cache, and are dropped from
	// every response to a GET or HEAD the cache answers or forwards.
	ExposeTags bool

	// Targets are the targeted cache-control fields (RFC 9213) this cache
	// obeys: the first of them present with a valid value overrides
	// Cache-Control and Expires for this cache (see targeted.go). An empty
	// list turns them off. Default: CDN-Cache-Control.
	Targets []string

	// StripTargets keeps the Targets fields from clients. Default: false
	// (they are passed downstream unchanged, for caches further down).
	StripTargets bool

	// HeuristicFraction turns on heuristic freshness from Last-Modified
	// (RFC 9111 §4.2.2): a response without explicit freshness, with a
	// heuristically cacheable status and a Last-Modified, is fresh for
	// this fraction of its age at Date (0.1 is usual), at most
	// HeuristicMax; it takes precedence over TTL. Must be in [0, 1].
	// Default: 0 (off).
	HeuristicFraction float64

	// HeuristicMax caps a Last-Modified heuristic lifetime. Default: 24h.
	HeuristicMax time.Duration

	// Name identifies this cache in Cache-Status fields (RFC 9211).
	// Default: "smartproxy".
	Name string

	// Tier is a store shared with the Caches of other proxy instances,
	// behind this one's memory: misses look there before the backend,
	// stored responses are written there, purges reach it and every
	// Cache on it (see tier.go). Default: nil (memory only).
	Tier Tier

	// ImplicitLength says that the ResponseWriters given to Serve are
	// net/http's (directly or through wrappers that pass Write on), which
	// add a Content-Length themselves to a response whose body, written
	// before the handler returns, fits their buffer (HTTP/1.x: 2 KiB,
	// HTTP/2: 4 KiB; nothing written to the client earlier). A hit on a
	// GET for a body of at most 2 KiB over HTTP/1.x or 2
	// then leaves the stored Content-Length out and net/http writes the
	// same value from the body: one field fewer for it to clone, sort and
	// write per hit. A wrapper that flushes before the handler returns
	// makes such a hit chunked (HTTP/1.1) instead; HEAD, 304 and 206
	// answers always carry their field. Default: false (every hit carries
	// the stored field, as any ResponseWriter needs).
	ImplicitLength bool

	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// implicitLengthMax is the largest body whose Content-Length a GET hit
// leaves to net/http under ImplicitLength: its HTTP/1 response buffers
// this much before it must send the header without a length
// (bufferBeforeChunkingSize in net/http/server.go; HTTP/2's is 4 KiB).
const implicitLengthMax = 2048

// Validate reports the first bad field, naming it and its value. It does
// not change s.
func (s *Settings) Validate() error {
	switch {
	case s.MaxSize < 0:
		return fielderr.New("max_size", s.MaxSize, fmt.Errorf("%w: max_size %d is negative", ErrInvalidSettings, s.MaxSize))
	case s.MaxBytes < 0:
		return fielderr.New("max_bytes", s.MaxBytes, fmt.Errorf("%w: max_bytes %d is negative", ErrInvalidSettings, s.MaxBytes))
	case s.MaxEntryBytes < 0:
		return fielderr.New("max_entry_bytes", s.MaxEntryBytes, fmt.Errorf("%w: max_entry_bytes %d is negative", ErrInvalidSettings, s.MaxEntryBytes))
	case s.MaxVariants < 0:
		return fielderr.New("max_variants", s.MaxVariants, fmt.Errorf("%w: max_variants %d is negative", ErrInvalidSettings, s.MaxVariants))
	case s.TTL < 0:
		return fielderr.New("ttl", s.TTL, fmt.Errorf("%w: ttl %s is negative", ErrInvalidSettings, s.TTL))
	case s.MaxTTL < 0:
		return fielderr.New("max_ttl", s.MaxTTL, fmt.Errorf("%w: max_ttl %s is negative", ErrInvalidSettings, s.MaxTTL))
	case s.StaleIfError < 0:
		return fielderr.New("stale_if_error", s.StaleIfError, fmt.Errorf("%w: stale_if_error %s is negative", ErrInvalidSettings, s.StaleIfError))
	case s.CoalesceTimeout < 0:
		return fielderr.New("coalesce_timeout", s.CoalesceTimeout, fmt.Errorf("%w: coalesce_timeout %s is negative", ErrInvalidSettings, s.CoalesceTimeout))
	}
	maxBytes, entryBytes := s.MaxBytes, s.MaxEntryBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	if entryBytes == 0 {
		entryBytes = min(DefaultMaxEntryBytes, maxBytes)
	}
	if entryBytes > maxBytes {
		return fielderr.New("max_entry_bytes", entryBytes, fmt.Errorf("%w: max_entry_bytes %d exceeds max_bytes %d", ErrInvalidSettings, entryBytes, maxBytes))
	}
	for _, code := range s.CacheableStatuses {
		if code < 200 || code > 599 || code == http.StatusPartialContent || code == http.StatusNotModified {
			return fielderr.New("cacheable_statuses", code, fmt.Errorf("%w: cacheable_statuses: %d is not a storable final status", ErrInvalidSettings, code))
		}
	}
	if s.StaleWhileRevalidate < 0 {
		return fielderr.New("stale_while_revalidate", s.StaleWhileRevalidate, fmt.Errorf("%w: stale_while_revalidate %s is negative", ErrInvalidSettings, s.StaleWhileRevalidate))
	}
	if s.HeuristicFraction < 0 || s.HeuristicFraction > 1 || s.HeuristicFraction != s.HeuristicFraction {
		return fielderr.New("heuristic.fraction", s.HeuristicFraction, fmt.Errorf("%w: heuristic fraction %v is not in [0, 1]", ErrInvalidSettings, s.HeuristicFraction))
	}
	if s.HeuristicMax < 0 {
		return fielderr.New("heuristic.max", s.HeuristicMax, fmt.Errorf("%w: heuristic max %s is negative", ErrInvalidSettings, s.HeuristicMax))
	}
	if err := s.validateFieldNames(); err != nil {
		return err
	}
	for _, c := range s.Name {
		if c <= ' ' || c >= 0x7f || c == ';' || c == ',' || c == '"' || c == '=' {
			return fielderr.New("name", s.Name, fmt.Errorf("%w: name %q is not a token", ErrInvalidSettings, s.Name))
		}
	}
	return nil
}

// withDefaults returns a copy of s with every zero field set to its default.
func (s Settings) withDefaults() Settings {
	s.MaxSize = cmp.Or(s.MaxSize, DefaultMaxSize)
	s.MaxBytes = cmp.Or(s.MaxBytes, DefaultMaxBytes)
	s.MaxEntryBytes = cmp.Or(s.MaxEntryBytes, min(DefaultMaxEntryBytes, s.MaxBytes))
	s.MaxVariants = cmp.Or(s.MaxVariants, DefaultMaxVariants)
	s.CoalesceTimeout = cmp.Or(s.CoalesceTimeout, DefaultCoalesceTimeout)
	if s.CacheableStatuses == nil {
		s.CacheableStatuses = defaultCacheableStatuses
	}
	s.Name = cmp.Or(s.Name, DefaultName)
	s.TagHeaders = canonicalOrDefault(s.TagHeaders, defaultTagHeaders)
	s.Targets = canonicalOrDefault(s.Targets, defaultTargets)
	s.HeuristicMax = cmp.Or(s.HeuristicMax, DefaultHeuristicMax)
	if s.Now == nil {
		s.Now = time.Now
	}
	return s
}
