package smartproxy

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/backend"
	"github.com/caddy-smartproxy/smartproxy/balancer"
	"github.com/caddy-smartproxy/smartproxy/config"
)

// stickyPool is a round-robin pool of n backends with sticky cookies sc,
// as route id; avail (nil: all) filters availability.
func stickyPool(t testing.TB, id string, n int, sc *config.Sticky, avail func(*backend.Backend) bool) *pool {
	t.Helper()
	hs := new(holds)
	t.Cleanup(hs.releaseAll)
	st, err := newStickiness(hs, id, "/", sc)
	if err != nil {
		t.Fatal(err)
	}
	bal, _ := balancer.New(balancer.Config{})
	p := newTestPool(testBackends(t, n), bal, avail, 0)
	p.setSticky(st)
	return p
}

// cookieOf is the Cookie header value for b's sticky cookie in p.
func cookieOf(p *pool, b *backend.Backend) string {
	return p.sticky.name + "=" + p.member(b).sticky.token
}

func withCookie(v ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	for _, c := range v {
		r.Header.Add("Cookie", c)
	}
	return r
}

func TestStickyTokens(t *testing.T) {
	secret := &config.Sticky{Secret: "0123456789abcdef0123"}
	a := stickyPool(t, "srv|site|a", 3, secret, nil)
	a2 := stickyPool(t, "srv|site|a", 3, secret, nil) // another instance, same secret
	b := stickyPool(t, "srv|site|b", 3, secret, nil)
	seen := map[string]bool{}
	for i, x := range a.snap.Load().available {
		tok := a.member(x).sticky.token
		if len(tok) != tokenLen || strings.Trim(tok, "0123456789abcdef") != "" {
			t.Fatalf("token %q: want %d hex digits", tok, tokenLen)
		}
		if strings.Contains(tok, x.URL.Port()) || strings.Contains(tok, "127") {
			t.Errorf("token %q may reveal %s", tok, x.Name)
		}
		if seen[tok] {
			t.Fatalf("two backends share token %q", tok)
		}
		seen[tok] = true
		if got := a2.member(a2.snap.Load().available[i]).sticky.token; got != tok {
			t.Errorf("same secret, route and backend, yet tokens %q and %q", tok, got)
		}
		if got := b.member(b.snap.Load().available[i]).sticky.token; got == tok {
			t.Errorf("another route's backend has the same token %q", tok)
		}
	}
	// Without a secret, each route gets its own random one, kept while a
	// config holds it (a reload), so the tokens stay.
	hs := new(holds)
	defer hs.releaseAll()
	s1, _ := newStickiness(hs, "srv|site|gen", "/", &config.Sticky{})
	s2, _ := newStickiness(hs, "srv|site|gen", "/", &config.Sticky{})
	s3, _ := newStickiness(hs, "srv|site|other", "/", &config.Sticky{})
	if string(s1.secret) != string(s2.secret) || string(s1.secret) == string(s3.secret) || len(s1.secret) != 32 {
		t.Fatal("generated secrets: not kept per route")
	}
	t.Setenv("SP_TEST_STICKY_SECRET", "short")
	if _, err := newStickiness(hs, "x", "/", &config.Sticky{Secret: "{env.SP_TEST_STICKY_SECRET}"}); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("a short expanded secret: %v", err)
	}
}

func TestStickyPick(t *testing.T) {
	down := map[*backend.Backend]bool{}
	p := stickyPool(t, "sticky|pick", 3, &config.Sticky{}, func(b *backend.Backend) bool { return !down[b] })
	bs := p.snap.Load().available
	target := bs[1]
	for range 10 {
		if got := p.pick(withCookie(cookieOf(p, target)), nil); got != target {
			t.Fatalf("cookie of %s went to %v", target.Name, got)
		}
	}
	// Among other cookies, quoted, in a second Cookie line, after a stale
	// one of the same name (another route path's).
	other := stickyPool(t, "sticky|other", 3, &config.Sticky{}, nil)
	for _, r := range []*http.Request{
		withCookie("a=1; sp_route=\"" + p.member(target).sticky.token + "\"; b=2"),
		withCookie("x=y", cookieOf(other, other.snap.Load().available[0])+"; "+cookieOf(p, target)),
	} {
		if got := p.pick(r, nil); got != target {
			t.Fatalf("cookie %q went to %v", r.Header["Cookie"], got)
		}
	}
	// A retry moves on like any retry.
	if got := p.pick(withCookie(cookieOf(p, target)), []*backend.Backend{target}); got == target || got == nil {
		t.Fatalf("retry went to %v", got)
	}
	// Hostile or stale cookies are balanced: round robin over all three.
	tok := p.member(target).sticky.token
	for _, c := range []string{
		"sp_route=" + strings.Repeat("f", tokenLen),     // forged
		"sp_route=" + tok[:tokenLen-1],                  // truncated
		"sp_route=" + tok + "0",                         // too long
		"sp_route=" + strings.ToUpper(tok),              // not ours
		"SP_ROUTE=" + tok,                               // another name
		"xsp_route=" + tok,                              // a name that ends like ours
		strings.Repeat("sp_route=x; ", 5000),            // many
		"sp_route=" + strings.Repeat("a", 1<<16),        // huge
		cookieOf(other, other.snap.Load().available[1]), // another route's
		"sp_route", // no value
	} {
		got := map[*backend.Backend]int{}
		for range 6 {
			got[p.pick(withCookie(c), nil)]++
		}
		if len(got) != 3 {
			t.Fatalf("cookie %.40q: picks %v, want the rotation over all three", c, got)
		}
	}
	// The backend goes away: the client is balanced elsewhere.
	down[target] = true
	p.rebuild()
	for range 4 {
		if got := p.pick(withCookie(cookieOf(p, target)), nil); got == target || got == nil {
			t.Fatalf("cookie of an unavailable backend went to %v", got)
		}
	}
}

func TestStickyDrainedAndCapped(t *testing.T) {
	p := stickyPool(t, "sticky|drained", 3, &config.Sticky{}, nil)
	bs := p.snap.Load().available
	if err := bs[2].SetWeight(0); err != nil { // weight 0: no new requests, no sessions
		t.Fatal(err)
	}
	p.rebuild()
	for range 4 {
		if got := p.pick(withCookie(cookieOf(p, bs[2])), nil); got == bs[2] {
			t.Fatal("cookie of a drained backend was honoured")
		}
	}

	cp, _ := cappedPool(t, "sticky|capped", []int{1, 0}, nil)
	hs := new(holds)
	defer hs.releaseAll()
	st, _ := newStickiness(hs, "sticky|capped", "/", &config.Sticky{})
	cp.setSticky(st)
	full := cp.snap.Load().available[0]
	if got := cp.pick(withCookie(cookieOf(cp, full)), nil); got != full {
		t.Fatalf("below its cap, the cookie went to %v", got)
	}
	if got := cp.pick(withCookie(cookieOf(cp, full)), nil); got == full || got == nil {
		t.Fatalf("at its cap, the cookie went to %v, want the other backend", got)
	}
}

func TestStickyStamp(t *testing.T) {
	no, yes := false, true
	for _, tc := range []struct {
		name   string
		sc     config.Sticky
		tls    bool
		cookie bool // the request carries the answering backend's cookie
		want   string
	}{
		{"defaults", config.Sticky{}, false, false, "; Path=/v1; HttpOnly; SameSite=Lax"},
		{"defaults over TLS", config.Sticky{}, true, false, "; Path=/v1; HttpOnly; SameSite=Lax; Secure"},
		{"secure off over TLS", config.Sticky{Secure: &no}, true, false, "; Path=/v1; HttpOnly; SameSite=Lax"},
		{"secure on", config.Sticky{Secure: &yes}, false, false, "; Path=/v1; HttpOnly; SameSite=Lax; Secure"},
		{"all set", config.Sticky{Cookie: "srv", MaxAge: 3600e9, HTTPOnly: &no, SameSite: "strict"}, false, false, "; Path=/v1; Max-Age=3600; SameSite=Strict"},
		{"none is secure", config.Sticky{SameSite: "none"}, false, false, "; Path=/v1; HttpOnly; SameSite=None; Secure"},
		{"already carried", config.Sticky{}, false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := new(holds)
			defer hs.releaseAll()
			st, err := newStickiness(hs, "stamp|"+tc.name, "/v1/", &tc.sc)
			if err != nil {
				t.Fatal(err)
			}
			m := &member{b: testBackends(t, 1)[0]}
			m.sticky = st.entry(m.b)
			r := httptest.NewRequest("GET", "/v1/x", nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tc.cookie {
				r.Header.Set("Cookie", "a=b; "+st.name+"="+m.sticky.token)
			}
			resp := &http.Response{Header: http.Header{"Set-Cookie": {"app=1"}}}
			st.stamp(r, m, resp)
			got := resp.Header["Set-Cookie"]
			if tc.want == "" {
				if len(got) != 1 {
					t.Fatalf("Set-Cookie %q: the request carried the cookie already", got)
				}
				return
			}
			if len(got) != 2 || got[0] != "app=1" || got[1] != st.name+"="+m.sticky.token+tc.want {
				t.Fatalf("Set-Cookie %q, want the backend's own and %q", got, st.name+"=<token>"+tc.want)
			}
			if c, err := http.ParseSetCookie(got[1]); err != nil || c.Value != m.sticky.token {
				t.Fatalf("%q does not parse back: %v", got[1], err)
			}
		})
	}
	for p, want := range map[string]string{"/": "/", "": "/", "/v1/": "/v1", "/a;b": "/", "/a b": "/", "/api/v2": "/api/v2"} {
		if got := cookiePath(p); got != want {
			t.Errorf("cookiePath(%q) = %q, want %q", p, got, want)
		}
	}
}

func FuzzStickyLookup(f *testing.F) {
	p := stickyPool(f, "fuzz|sticky", 3, &config.Sticky{}, nil)
	good := cookieOf(p, p.snap.Load().available[0])
	f.Add(good)
	f.Add("a=b; " + good + "; c=\"d\"")
	f.Add("sp_route=\"\"; sp_route=;;; =sp_route")
	f.Fuzz(func(t *testing.T, header string) {
		r := withCookie(header)
		b := p.snap.Load().sticky.lookup(r.Header)
		if b != nil && !strings.Contains(header, p.member(b).sticky.token) {
			t.Fatalf("%q picked %s, whose token it does not hold", header, b.Name)
		}
	})
}

func BenchmarkPickSticky(b *testing.B) {
	p := stickyPool(b, "bench|sticky", 4, &config.Sticky{}, nil)
	target := p.snap.Load().available[2]
	r := withCookie("session=abc123; theme=dark; " + cookieOf(p, target) + "; lang=en")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if p.pick(r, nil) != target {
				b.Fatal("not sticky")
			}
		}
	})
}
