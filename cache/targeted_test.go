package cache

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestParseSFDictionary_RFC8941_3_2(t *testing.T) {
	tests := []struct {
		in   string
		want string // members, or "invalid"
	}{
		{"max-age=60", "[{max-age 1 60 false}]"},
		{"max-age=60, private", "[{max-age 1 60 false} {private 0 0 true}]"},
		{"  no-store ,max-age=5  ", "[{no-store 0 0 true} {max-age 1 5 false}]"},
		{`no-cache="set-cookie", a=?0, b=:aGk=:, c=tok/x, d=1.5, e=(1 "x");p=1`,
			"[{no-cache 2 0 false} {a 0 0 false} {b 2 0 false} {c 2 0 false} {d 2 0 false} {e 2 0 false}]"},
		{"max-age=1, max-age=2", "[{max-age 1 2 false}]"}, // the last wins
		{"max-age=60;x=1;y", "[{max-age 1 60 false}]"},
		{"Max-Age=60", "invalid"}, // keys are lower case
		{"max-age=60,", "invalid"},
		{"max-age=", "invalid"},
		{`private="unterminated`, "invalid"},
		{"max-age=1234567890123456", "invalid"},
		{"max-age=1.2345", "invalid"},
		{"max-age=60 private", "invalid"},
		{"a=?2", "invalid"},
		{"a=(1 2", "invalid"},
		{"", "[]"},
	}
	for _, tt := range tests {
		m, ok := parseSFDictionary([]string{tt.in})
		got := fmt.Sprint(m)
		if !ok {
			got = "invalid"
		}
		if got != tt.want {
			t.Errorf("%q: %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestTargetedCacheControl_RFC9213: the first valid target overrides
// Cache-Control and Expires; an invalid one is ignored; targets pass
// downstream unless StripTargets.
func TestTargetedCacheControl_RFC9213(t *testing.T) {
	date := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	later := time.Date(2025, 3, 1, 13, 0, 0, 0, time.UTC).Format(http.TimeFormat)
	tests := []struct {
		name    string
		s       Settings
		kv      []string
		stored  bool
		freshAt time.Duration // still a hit this long after; 0: not checked
		staleAt time.Duration // no longer a hit this long after; 0: not checked
	}{
		{"CDN max-age overrides no-store", Settings{}, []string{"Cache-Control", "no-store", "CDN-Cache-Control", "max-age=60"}, true, 59 * time.Second, 61 * time.Second},
		{"CDN no-store overrides max-age", Settings{}, []string{"Cache-Control", "max-age=60", "CDN-Cache-Control", "no-store"}, false, 0, 0},
		{"CDN private", Settings{}, []string{"Cache-Control", "public, max-age=60", "CDN-Cache-Control", "private"}, false, 0, 0},
		{"invalid CDN field ignored", Settings{}, []string{"Cache-Control", "max-age=10", "CDN-Cache-Control", "Max-Age=600"}, true, 9 * time.Second, 11 * time.Second},
		{"mistyped max-age ignored", Settings{}, []string{"Cache-Control", "max-age=600", "CDN-Cache-Control", `max-age="600", public`}, false, 0, 0},
		{"Expires ignored under a target", Settings{}, []string{"Date", date, "Expires", later, "CDN-Cache-Control", "must-revalidate"}, false, 0, 0},
		{"CDN s-maxage", Settings{}, []string{"CDN-Cache-Control", "max-age=5, s-maxage=20"}, true, 19 * time.Second, 21 * time.Second},
		{"first target wins", Settings{Targets: []string{"x-mine", "cdn-cache-control"}},
			[]string{"CDN-Cache-Control", "max-age=100", "X-Mine", "max-age=30"}, true, 29 * time.Second, 31 * time.Second},
		{"invalid first target falls to the next", Settings{Targets: []string{"X-Mine", "CDN-Cache-Control"}},
			[]string{"CDN-Cache-Control", "max-age=100", "X-Mine", "max-age=x y"}, true, 99 * time.Second, 101 * time.Second},
		{"targets off", Settings{Targets: []string{}}, []string{"Cache-Control", "max-age=10", "CDN-Cache-Control", "no-store"}, true, 9 * time.Second, 11 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, tt.s)
			o := &origin{handler: respond(200, "x", tt.kv...)}
			w, _ := do(t, c, "GET", "http://example.com/t", o.fetch)
			if got := w.Header().Get("CDN-Cache-Control"); got != http.Header(headerOf(tt.kv)).Get("CDN-Cache-Control") {
				t.Errorf("CDN-Cache-Control sent downstream %q", got)
			}
			if stored := c.Stats().Stores == 1; stored != tt.stored {
				t.Fatalf("stored %v, want %v (Cache-Status %q)", stored, tt.stored, cacheStatusOf(w))
			}
			if tt.freshAt > 0 {
				clk.Advance(tt.freshAt)
				if _, st := do(t, c, "GET", "http://example.com/t", o.fetch); st != StatusHit {
					t.Errorf("after %s: %v, want a hit", tt.freshAt, st)
				}
				clk.Advance(tt.staleAt - tt.freshAt)
				if _, st := do(t, c, "GET", "http://example.com/t", o.fetch); st == StatusHit {
					t.Errorf("after %s: still a hit", tt.staleAt)
				}
			}
		})
	}
}

func TestStripTargets(t *testing.T) {
	c, _ := newTestCache(t, Settings{StripTargets: true})
	o := &origin{handler: respond(200, "x", "CDN-Cache-Control", "max-age=60", "Cache-Control", "no-cache")}
	miss, _ := do(t, c, "GET", "http://example.com/s", o.fetch)
	hit, st := do(t, c, "GET", "http://example.com/s", o.fetch)
	if st != StatusHit {
		t.Fatalf("second: %v, want a hit", st)
	}
	for _, w := range []http.Header{miss.Header(), hit.Header()} {
		if w.Get("CDN-Cache-Control") != "" || w.Get("Cache-Control") != "no-cache" {
			t.Errorf("headers %v: want the target stripped and Cache-Control kept", w)
		}
	}
}

func headerOf(kv []string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// FuzzSFDictionary: any field value parses or is refused without panic;
// a parsed one has only well-formed, distinct keys, and a value made of
// two valid ones joined by a comma parses too.
func FuzzSFDictionary(f *testing.F) {
	for _, s := range []string{"max-age=60, private", `no-cache="a", b=:aGk=:;p=?1`, "e=(1 2);x", "Max-Age=1", "a=1.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := parseSFDictionary([]string{s})
		if !ok {
			return
		}
		seen := map[string]bool{}
		for _, mm := range m {
			p := sfParser{s: mm.key}
			if k, kok := p.key(); !kok || k != mm.key || seen[k] {
				t.Fatalf("%q: bad or repeated key %q", s, mm.key)
			}
			seen[mm.key] = true
		}
		if len(m) > 0 {
			if _, ok2 := parseSFDictionary([]string{s, s}); !ok2 {
				t.Fatalf("%q valid but %q, %q together not", s, s, s)
			}
		}
	})
}
