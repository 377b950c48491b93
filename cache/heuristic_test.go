package cache

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHeuristicLastModified_RFC9111_4_2_2: with HeuristicFraction, a
// response fresh by no explicit means is fresh for that fraction of the
// time since Last-Modified, capped by HeuristicMax, for heuristically
// cacheable statuses only; hits say their ttl.
func TestHeuristicLastModified_RFC9111_4_2_2(t *testing.T) {
	at := func(clk *clock, d time.Duration) string { return clk.Now().Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name         string
		s            Settings
		code         int
		kv           func(clk *clock) []string
		fresh, stale time.Duration // 0 fresh: never stored
		ttl          string        // Cache-Status ttl at fresh, "" for none
	}{
		{"tenth of ten hours", Settings{HeuristicFraction: 0.1}, 200,
			func(clk *clock) []string {
				return []string{"Date", at(clk, 0), "Last-Modified", at(clk, -10*time.Hour)}
			},
			59 * time.Minute, 61 * time.Minute, "ttl=60"},
		{"capped by max", Settings{HeuristicFraction: 0.1, HeuristicMax: 2 * time.Hour}, 200,
			func(clk *clock) []string {
				return []string{"Date", at(clk, 0), "Last-Modified", at(clk, -1000*time.Hour)}
			},
			119 * time.Minute, 121 * time.Minute, "ttl=60"},
		{"default max a day", Settings{HeuristicFraction: 1}, 404,
			func(clk *clock) []string {
				return []string{"Date", at(clk, 0), "Last-Modified", at(clk, -1000*time.Hour)}
			},
			23 * time.Hour, 25 * time.Hour, "ttl=3600"},
		{"wins over ttl", Settings{HeuristicFraction: 0.5, TTL: time.Hour}, 200,
			func(clk *clock) []string {
				return []string{"Date", at(clk, 0), "Last-Modified", at(clk, -20*time.Minute)}
			},
			9 * time.Minute, 11 * time.Minute, "ttl=60"},
		{"explicit freshness wins", Settings{HeuristicFraction: 0.5}, 200,
			func(clk *clock) []string {
				return []string{"Date", at(clk, 0), "Last-Modified", at(clk, -100*time.Hour), "Cache-Control", "max-age=60"}
			},
			59 * time.Second, 61 * time.Second, ""},
		{"status not heuristically cacheable", Settings{HeuristicFraction: 0.5}, 403,
			func(clk *clock) []string {
				return []string{"Date", at(clk, 0), "Last-Modified", at(clk, -10*time.Hour)}
			},
			0, 0, ""},
		{"public makes any status eligible", Settings{HeuristicFraction: 0.5}, 403,
			func(clk *clock) []string {
				return []string{"Date", at(clk, 0), "Last-Modified", at(clk, -2*time.Hour), "Cache-Control", "public"}
			},
			59 * time.Minute, 61 * time.Minute, "ttl=60"},
		{"Last-Modified after Date", Settings{HeuristicFraction: 0.5}, 200,
			func(clk *clock) []string { return []string{"Date", at(clk, 0), "Last-Modified", at(clk, time.Hour)} },
			0, 0, ""},
		{"off by default", Settings{}, 200,
			func(clk *clock) []string {
				return []string{"Date", at(clk, 0), "Last-Modified", at(clk, -10*time.Hour)}
			},
			0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, clk := newTestCache(t, tt.s)
			o := &origin{handler: respond(tt.code, "x", tt.kv(clk)...)}
			do(t, c, "GET", "http://example.com/h", o.fetch)
			if tt.fresh == 0 {
				if c.Stats().Stores != 0 {
					t.Fatalf("stored, want not")
				}
				return
			}
			clk.Advance(tt.fresh)
			w, st := do(t, c, "GET", "http://example.com/h", o.fetch)
			if st != StatusHit {
				t.Fatalf("after %s: %v, want a hit", tt.fresh, st)
			}
			if cs := cacheStatusOf(w); (tt.ttl == "") != !strings.Contains(cs, "; ttl=") || !strings.HasSuffix(cs, tt.ttl) {
				t.Errorf("Cache-Status %q, want ttl %q", cs, tt.ttl)
			}
			clk.Advance(tt.stale - tt.fresh)
			if _, st := do(t, c, "GET", "http://example.com/h", o.fetch); st == StatusHit {
				t.Errorf("after %s: still a hit", tt.stale)
			}
		})
	}
}

func TestHeuristicSettingsValidate(t *testing.T) {
	for _, s := range []Settings{{HeuristicFraction: -0.1}, {HeuristicFraction: 1.5}, {HeuristicFraction: math.NaN()}, {HeuristicMax: -time.Second}} {
		if err := s.Validate(); !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), "heuristic") {
			t.Errorf("%+v: %v", s, err)
		}
	}
}
