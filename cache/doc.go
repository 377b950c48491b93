// Package cache is an RFC 9111 shared HTTP cache used as middleware around
// a fetch function: Cache.Serve answers a request from memory when it can,
// and otherwise forwards it through fetch while streaming the response to
// the client and teeing it into storage.
//
// What it does:
//
//   - Stores GET responses in an LRU bounded by count (MaxSize) and bytes
//     (MaxBytes); bodies over MaxEntryBytes stream through unstored, and
//     the cache never buffers more than that to find out.
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
//   - Vary: one entry per variant under a primary key, selected by the
//     normalised request headers; Vary: * is never stored.
//   - Revalidation with If-None-Match / If-Modified-Since; a 304 refreshes
//     the stored headers and the stored body is served. Clients'
//     If-None-Match / If-Modified-Since are answered with 304 from cache.
//   - HEAD is answered from the stored GET.
//   - Unsafe methods answered 2xx/3xx invalidate the target URI and
//     same-origin Location / Content-Location.
//   - Concurrent misses for one key are coalesced into one fetch.
//   - Stale-if-error (StaleIfError): a stale response is served when fetch
//     returns an error or a 500/502/503/504.
//   - Age and Cache-Status (RFC 9211) on every response it handles.
//
// Not implemented, on purpose:
//
//   - Range requests and 206 responses: a request with Range (or If-Range,
//     If-Match, If-Unmodified-Since) bypasses the cache, since answering
//     them correctly needs partial-content assembly and the origin already
//     does it.
//   - Qualified no-cache="field" and private="field": treated as the
//     unqualified directives (stricter, never wrong).
//   - The stale-while-revalidate and stale-if-error response directives
//     (RFC 5861): serving stale is governed by StaleIfError alone, and
//     there is no background revalidation, since a Cache starts no
//     goroutines.
//   - Storing 302/307 and other statuses that are not in
//     CacheableStatuses is allowed only with explicit freshness; HEAD
//     responses never update a stored GET (RFC 9111 §4.3.5 is optional).
//   - Invalidation across Vary variants is whole-URI (all variants go).
//
// Keys are documented on DefaultKey; Purge, PurgePrefix and PurgeAll take
// them. A Cache has no goroutine and no Close: keep one across reloads.
package cache
