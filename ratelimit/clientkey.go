package ratelimit

import (
	"net/netip"
	"strconv"
	"strings"
)

// DefaultIPv6Prefix is the prefix length IPv6 clients are keyed by when none
// is given. A /64 is the smallest network a subscriber or a host is normally
// handed (RFC 6177 suggests /48 to /64 per site), and it is one subnet's
// worth of addresses that any one machine may pick from at will: keying by
// the full address would give it 2^64 fresh bursts.
const DefaultIPv6Prefix = 64

// AppendClientKey appends to dst the rate-limit key of the client at ip, an
// address in text form (as Caddy's resolved client IP), and returns the
// extended slice. It allocates nothing when dst has room (64 bytes always
// suffice for an address), except for a value that looks like an address
// but is not one ("010.0.0.1"), whose parse error allocates.
//
//   - An IPv4 address is its own key, in canonical form: "203.0.113.7".
//   - An IPv4-mapped IPv6 address (::ffff:203.0.113.7) is unmapped first, so
//     a client reaching a dual-stack socket shares the IPv4 client's bucket.
//   - Any other IPv6 address is masked to its first v6Prefix bits and keyed
//     as that network: "2001:db8:1:2::/64" for every address of the /64.
//     A zone (fe80::1%eth0) is dropped. v6Prefix 0 or less means
//     DefaultIPv6Prefix; more than 128 means 128.
//   - Anything that is not an address ("", "@" for a unix socket, garbage)
//     is appended as it is, so distinct values still get distinct buckets.
//     Such a value can equal an IPv6 network's key and share its bucket;
//     Caddy's client IP is always an address or empty, so it never does.
func AppendClientKey(dst []byte, ip string, v6Prefix int) []byte {
	a, ok := clientAddr(ip)
	if !ok {
		return append(dst, ip...)
	}
	return appendAddrKey(dst, a, v6Prefix)
}

// ClientKey is AppendClientKey as a string. It returns ip itself, allocating
// nothing, when that is already the key (an IPv4 address in canonical form,
// or a value that is not an address); otherwise (IPv6, mapped or
// non-canonical IPv4) it allocates the key.
func ClientKey(ip string, v6Prefix int) string {
	a, ok := clientAddr(ip)
	if !ok {
		return ip
	}
	var buf [64]byte
	k := appendAddrKey(buf[:0], a, v6Prefix)
	if string(k) == ip {
		return ip
	}
	return string(k)
}

// clientAddr parses ip, dropping a zone and unmapping an IPv4-mapped
// address. It reports false for anything that is not an IP address.
func clientAddr(ip string) (netip.Addr, bool) {
	// Cut the zone before parsing: a parsed zone is interned, which
	// allocates, and the key does not use it.
	host, _, _ := strings.Cut(ip, "%")
	if !addrChars(host) {
		// Spares the parse error, which allocates.
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// addrChars reports whether s is made of the characters an address in text
// form is made of, and is not empty: a cheap test that turns away "", "@"
// and most garbage before netip.ParseAddr.
func addrChars(s string) bool {
	if s == "" || len(s) > len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// appendAddrKey appends the key of a, an unmapped address without zone.
func appendAddrKey(dst []byte, a netip.Addr, v6Prefix int) []byte {
	if a.Is4() {
		return a.AppendTo(dst)
	}
	bits := v6Prefix
	switch {
	case bits <= 0:
		bits = DefaultIPv6Prefix
	case bits > 128:
		bits = 128
	}
	// Prefix fails only for bits outside 0..128, excluded above.
	p, _ := a.Prefix(bits)
	dst = p.Addr().AppendTo(dst)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, int64(bits), 10)
}
