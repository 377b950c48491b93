// Package cache is an RFC 9111 shared HTTP cache used as middleware around
// a fetch function: Cache.Serve answers a request from memory when it can,
// and otherwise forwards it through fetch while streaming the response to
// the client and teeing it into storage.
//
// What it does:
//
//   - Stores GET responses in an LRU bounded by count (MaxSize) and bytes
//     (MaxBytes). MaxBytes counts what an entry holds: body, header names
//     and values, keys, and fixed estimates for the structures around them
//     (size.go), so the live heap stays within 2× MaxBytes (measured near
//     1×). A response whose stored headers and body together exceed
//     MaxEntryBytes streams through unstored, and the cache never buffers
//     more than that to find out.
//   - Freshness from s-maxage, max-age, Expires - Date, else the heuristic
//     TTL; MaxTTL caps it. Age per RFC 9111 §4.2.3 (apparent age, upstream
//     Age corrected by the response delay, resident time).
//   - Request directives no-cache (and Pragma: no-cache), no-store,
//     max-age, max-stale, min-fresh, only-if-cached (504 when nothing
//     usable is stored). Response directives no-store, private (never
//     stored: this is a shared cache), no-cache (stored, always
//     revalidated), max-age, s-maxage (wins over max-age), must-revalidate
//     and proxy-revalidate (never served stale), public.
//   - Authorization requests: stored only with public, s-maxage or
//     must-revalidate. Requests with Cookie: stored only with public or
//     s-maxage (stricter than RFC 9111, against one user's page being
//     served to all; such requests are still answered from responses
//     stored for others). Set-Cookie responses: stored only with
//     AllowSetCookie, and a 304 carrying Set-Cookie, private or no-store
//     does not update the stored response. Hop-by-hop headers are never
//     stored.
//   - Cache-Control with an unterminated quoted string is invalid: such a
//     response is not stored (detail=invalid-cache-control), and such a
//     request field is ignored as if absent (Pragma: no-cache then counts).
//   - Vary: one entry per variant under a primary key, selected by the
//     request's values of the named headers, byte for byte except in
//     Accept-Encoding, Accept-Charset and Accept-Language, whose values are
//     case-insensitive by their RFCs; whitespace around list commas
//     (outside quoted strings) is ignored, and an empty field differs from
//     none. At most MaxVariants variants per URL (default 16): one more
//     evicts that URL's least recently used variant. A variant is found by
//     one map lookup, and nothing a request causes walks the index under
//     the store lock. Vary: * is never stored.
//   - Revalidation with If-None-Match / If-Modified-Since; a 304 refreshes
//     the stored headers and the stored body is served. Clients'
//     If-None-Match / If-Modified-Since are answered with 304 from cache.
//   - HEAD is answered from the stored GET; a forwarded HEAD whose 200
//     has the stored response's validators freshens it (headrefresh.go).
//   - Targeted cache control (RFC 9213): the first valid field of
//     Targets (CDN-Cache-Control) overrides Cache-Control and Expires
//     (targeted.go).
//   - Tags from Surrogate-Key / Cache-Tag (TagHeaders), purged with
//     PurgeTags; kept from clients unless ExposeTags (tags.go).
//   - Heuristic freshness from Last-Modified, opt-in (heuristic.go).
//   - A single byte range (with If-Range) from a stored 200: 206 or 416;
//     a range miss fetches and stores the whole response (ranges.go).
//   - 1xx responses written by fetch reach the client with their own
//     fields only; they are never stored nor merged into the final
//     response.
//   - Unsafe methods answered 2xx/3xx invalidate the target URI and
//     same-origin Location / Content-Location.
//   - Concurrent misses for one key are coalesced into one fetch; see
//     Coalescing below.
//   - Stale-if-error (StaleIfError): a stale response is served when fetch
//     returns an error or a 500/502/503/504.
//   - Stale-while-revalidate (RFC 5861 §3) through ServeBackground: within
//     the window a stale response is served at once and one background
//     request per key revalidates it (swr.go).
//   - Age and Cache-Status (RFC 9211) on every response it handles.
//
// Not implemented, on purpose:
//
//   - Several ranges in one request, and storing 206 responses: a
//     multi-range request goes to the origin and its 206 passes through
//     (single ranges are served from stored 200s: ranges.go). If-Match
//     and If-Unmodified-Since requests bypass the cache.
//   - Qualified no-cache="field" and private="field": treated as the
//     unqualified directives (stricter, never wrong).
//   - The stale-if-error response directive (RFC 5861 §4): serving stale
//     on errors is governed by StaleIfError alone.
//   - Storing 302/307 and other statuses that are not in
//     CacheableStatuses is allowed only with explicit freshness.
//   - Invalidation across Vary variants is whole-URI (all variants go).
//
// # Coalescing
//
// The first miss for a primary key leads a flight; concurrent misses for
// that key wait on it, in two steps. When the leader's response headers
// arrive, every waiter that the response cannot answer is released at
// once and goes to the backend itself: the response is not storable
// (private, no-store, Set-Cookie, too large by its Content-Length, ...),
// the leader's revalidation failed over to a stale response, or the
// response varies and the waiter's request is another variant. The others
// wait for the body to be stored and are answered from it.
//
// The body fill never goes at the pace of the leader's client: for a
// response shared this way, the leader's fetch only appends the body to
// the entry's buffer (at most MaxEntryBytes), and a relay goroutine of the
// leader's request writes that buffer to the leader's client as it grows.
// The entry is stored, and the waiters answered, as soon as the backend
// has sent the body, however slowly the leader's client reads; a leader
// whose client went away still completes the fill for the others. If a
// body of unknown length outgrows MaxEntryBytes, the waiters are released,
// the relay writes out what it holds, and the leader streams the rest
// directly. A waiter never waits longer than CoalesceTimeout in all, nor
// past its own context. A flight that decided not to share stays until
// its leader is done, so later misses skip it without waiting, and for
// 30 s after (or until a response for the key is stored) misses for that
// key do not wait on one another at all: a burst of requests to a private
// endpoint goes to the backend side by side.
//
// Keys are documented on DefaultKey (the scheme is the connection's,
// never an absolute-form target's); Purge, PurgePrefix and PurgeAll take
// them, and PurgeTags takes tags. A Cache needs no Close: keep one across
// reloads. It runs two kinds of goroutine: a shared fill's relay, which
// ends before the Serve that started it returns, and, for
// ServeBackground only, stale-while-revalidate's background requests
// (at most 16), which end with the Background's context (swr.go).
package cache
