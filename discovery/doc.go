// Package discovery finds a route's backends in DNS and tells an observer
// whenever the set changes.
//
// A Watcher asks DNS for one name, turns the answer into backends
// (scheme://address:port URLs with weights), and asks again every Refresh.
// It speaks DNS itself (golang.org/x/net/dns/dnsmessage), so that the
// configured resolvers really are the servers asked and each answer's TTL is
// seen: the next lookup never comes before the shortest TTL of the records
// used has run out (capped at MaxTTLWait, so a hostile TTL cannot freeze the
// set), nor sooner than Refresh, nor sooner than MinRefresh.
//
// # Types
//
//   - "A" asks for A and AAAA records of Name; every address becomes a
//     backend on Port with Weight.
//   - "AAAA" asks for AAAA records only.
//   - "SRV" asks for SRV records of Name (such as "_api._tcp.example.com"),
//     then for the addresses of each target; port, weight and priority come
//     from the records, so Port and Weight are not allowed.
//
// # Failures
//
// A lookup that fails (timeout, SERVFAIL, a reply that does not parse) or
// that finds nothing (NXDOMAIN, no records) keeps the last good set: DNS
// trouble never empties a route. Every failure is counted, kept in Status
// and passed to the OnError callback, for logs, metrics and the status API.
// The observer (OnChange) hears only of real changes: the set is sorted by
// URL and deduplicated, so an answer that comes back in another order is no
// change.
//
// # Hostile answers
//
// A reply is accepted only from the server asked (a connected socket), with
// the query's random ID, marked as a response, and for exactly the question
// asked; anything else on the UDP socket is ignored until the timeout, and
// over TCP it fails the lookup. Records for names other than the one asked
// (or the CNAME chain from it, at most MaxCNAMEs long) are ignored, as are
// unspecified, multicast and broadcast addresses. A reply with more than
// MaxRecords answers, or a lookup that would give more than MaxBackends
// backends, fails. Compression loops and counts that run past the message
// are parse errors. A truncated UDP reply is asked again over TCP.
//
// A Watcher runs one goroutine between Start and Stop, and none after Stop
// returns.
package discovery
