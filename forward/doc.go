// Package forward holds the Caddy-free parts of proxying one request: what
// is sent to a backend and how bytes move between the two sides. The root
// package keeps the loop that uses them (picking backends, retries,
// breakers, metrics) and everything that needs Caddy.
//
//   - Path normalisation (CleanPath): one normal form of the request's path
//     for routing, limits, cache keys and the backend, refusing paths that
//     climb above the root or hide dot segments.
//   - Headers: hop-by-hop fields and those the Connection header lists are
//     stripped both ways (RemoveHopHeaders); an Upgrade is recognised
//     (UpgradeType) and an h2c one never forwarded; trailers that RFC 9110
//     forbids are dropped (ForbiddenTrailer); X-Forwarded-For, -Proto and
//     -Host are set, extended only for a trusted proxy (SetForwarded).
//   - The outbound request (NewOutbound, SetTarget): a shallow copy of the
//     client's request, pooled when the transport allows, whose body (Body)
//     tells a failure of the client's upload apart from the backend's.
//   - Replays (Idempotent, ReplayBody, ReplayBudget): which requests may be
//     sent twice, and a body buffered for that within a per-request and a
//     global byte budget.
//   - Copying (CopyBody, ShouldFlush): pooled buffers, 256 KiB ones for
//     bodies known to be larger than 32 KiB while at most LargeBuffers are
//     in use, flushes for streams and server-sent events, a client write
//     failure marked ErrClientGone.
//   - Tunnels (Pipe): both directions of an upgraded connection, with
//     half-close passed on and a bounded linger.
//
// The hot-path functions allocate nothing for a request without a body on
// a pooled Outbound (see the benchmarks).
package forward
