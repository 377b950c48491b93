package ratelimit

import (
	"net/netip"
	"strings"
	"testing"
)

var clientKeyTests = []struct {
	name   string
	ip     string
	prefix int
	want   string
}{
	{"IPv4", "203.0.113.7", 64, "203.0.113.7"},
	{"IPv4 ignores the IPv6 prefix", "203.0.113.7", 1, "203.0.113.7"},
	{"IPv4-mapped", "::ffff:203.0.113.7", 64, "203.0.113.7"},
	{"IPv4-mapped in hex", "::ffff:cb00:7107", 64, "203.0.113.7"},
	{"IPv4-mapped, full form", "0:0:0:0:0:ffff:203.0.113.7", 128, "203.0.113.7"},
	{"IPv6 full form", "2001:0db8:0001:0002:0003:0004:0005:0006", 64, "2001:db8:1:2::/64"},
	{"IPv6 another address of the /64", "2001:db8:1:2:ffff:ffff:ffff:ffff", 64, "2001:db8:1:2::/64"},
	{"IPv6 default prefix", "2001:db8:1:2:3:4:5:6", 0, "2001:db8:1:2::/64"},
	{"IPv6 negative prefix is the default", "2001:db8:1:2:3:4:5:6", -5, "2001:db8:1:2::/64"},
	{"IPv6 /48", "2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
	{"IPv6 /128", "2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6/128"},
	{"IPv6 above 128 is 128", "2001:db8::1", 300, "2001:db8::1/128"},
	{"IPv6 /1", "ffff::1", 1, "8000::/1"},
	{"IPv6 odd prefix", "2001:db8:ffff::", 37, "2001:db8:f800::/37"},
	{"IPv6 loopback", "::1", 64, "::/64"},
	{"IPv6 with zone", "fe80::1%eth0", 64, "fe80::/64"},
	{"IPv6 with zone, /128", "fe80::1%eth0", 128, "fe80::1/128"},
	{"IPv6 with an empty zone", "fe80::1%", 64, "fe80::/64"},
	{"empty", "", 64, ""},
	{"unix socket", "@", 64, "@"},
	{"garbage", "not an address", 64, "not an address"},
	{"address with port", "203.0.113.7:443", 64, "203.0.113.7:443"},
	{"IPv4 with leading zeros", "010.0.0.1", 64, "010.0.0.1"},
	{"a prefix is not an address", "2001:db8::/64", 64, "2001:db8::/64"},
	{"bracketed", "[2001:db8::1]", 64, "[2001:db8::1]"},
	{"garbage with a zone sign", "x%y", 64, "x%y"},
}

func TestAppendClientKey(t *testing.T) {
	for _, tc := range clientKeyTests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(AppendClientKey(nil, tc.ip, tc.prefix)); got != tc.want {
				t.Fatalf("AppendClientKey(%q, %d) = %q, want %q", tc.ip, tc.prefix, got, tc.want)
			}
			if got := string(AppendClientKey([]byte("x|"), tc.ip, tc.prefix)); got != "x|"+tc.want {
				t.Fatalf("AppendClientKey after a prefix = %q, want %q", got, "x|"+tc.want)
			}
			if got := ClientKey(tc.ip, tc.prefix); got != tc.want {
				t.Fatalf("ClientKey(%q, %d) = %q, want %q", tc.ip, tc.prefix, got, tc.want)
			}
		})
	}
}

func TestClientKeyAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 64)
	for _, tc := range clientKeyTests {
		host, _, _ := strings.Cut(tc.ip, "%")
		if _, err := netip.ParseAddr(host); err != nil && addrChars(host) {
			continue // documented: the parse error allocates
		}
		if n := testing.AllocsPerRun(100, func() { buf = AppendClientKey(buf[:0], tc.ip, tc.prefix) }); n != 0 {
			t.Errorf("AppendClientKey(%q): %v allocations, want 0", tc.ip, n)
		}
		if tc.ip != tc.want {
			continue // ClientKey must build a new string
		}
		if n := testing.AllocsPerRun(100, func() { ClientKey(tc.ip, tc.prefix) }); n != 0 {
			t.Errorf("ClientKey(%q): %v allocations, want 0 for a key equal to its input", tc.ip, n)
		}
	}
}

// TestIPv6NetworkSharesOneBucket is the attack: a host with a /64 picks a
// new address per request. Keyed by ClientKey, all of them drain one
// bucket, and the IPv4-mapped form of an IPv4 client drains the IPv4
// client's bucket.
func TestIPv6NetworkSharesOneBucket(t *testing.T) {
	l := mustNew(t, Settings{RequestsPerSecond: 1, Burst: 5})
	allowed := 0
	for i := range 1000 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 8: byte(i >> 8), 15: byte(i)})
		if l.Allow(ClientKey(a.String(), DefaultIPv6Prefix), t0).Allowed {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("1000 addresses of one /64: %d admitted, want one burst of 5", allowed)
	}
	if n := drain(l, ClientKey("2001:db8:1:3::1", DefaultIPv6Prefix), t0, 10); n != 5 {
		t.Fatalf("the next /64 got %d, want its own burst of 5", n)
	}
	drain(l, ClientKey("198.51.100.9", DefaultIPv6Prefix), t0, 10)
	if l.Allow(ClientKey("::ffff:198.51.100.9", DefaultIPv6Prefix), t0).Allowed {
		t.Fatal("the IPv4-mapped form of a drained IPv4 client got a fresh bucket")
	}
}

// FuzzAppendClientKey checks, for any input and prefix, that the key is
// what AppendClientKey documents: an address's key is its IPv4 form or a
// masked IPv6 network that contains it, and anything else is itself.
func FuzzAppendClientKey(f *testing.F) {
	for _, tc := range clientKeyTests {
		f.Add(tc.ip, tc.prefix)
	}
	f.Fuzz(func(t *testing.T, ip string, prefix int) {
		key := string(AppendClientKey(nil, ip, prefix))
		if ck := ClientKey(ip, prefix); ck != key {
			t.Fatalf("ClientKey %q != AppendClientKey %q", ck, key)
		}
		host, _, _ := strings.Cut(ip, "%")
		a, err := netip.ParseAddr(host)
		if err != nil {
			if key != ip {
				t.Fatalf("non-address %q keyed as %q", ip, key)
			}
			return
		}
		a = a.Unmap()
		if a.Is4() {
			if key != a.String() {
				t.Fatalf("IPv4 %q keyed as %q", ip, key)
			}
			return
		}
		p, err := netip.ParsePrefix(key)
		if err != nil || p != p.Masked() || !p.Contains(a.WithZone("")) || p.Bits() < 1 {
			t.Fatalf("IPv6 %q (prefix %d) keyed as %q: not a masked network holding it (%v)", ip, prefix, key, err)
		}
		if prefix >= 1 && prefix <= 128 && p.Bits() != prefix {
			t.Fatalf("IPv6 %q keyed as %q, want a /%d", ip, key, prefix)
		}
	})
}
