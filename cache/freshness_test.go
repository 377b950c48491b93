package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestCorrectedInitialAge(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name              string
		date              time.Time
		age               time.Duration
		reqTime, respTime time.Time
		want              time.Duration
	}{
		{"fresh from origin", t0, 0, t0, t0, 0},
		{"date in the past", t0.Add(-30 * time.Second), 0, t0, t0, 30 * time.Second},
		{"date in the future", t0.Add(time.Hour), 0, t0, t0, 0},
		{"upstream age", t0, 40 * time.Second, t0, t0, 40 * time.Second},
		{"upstream age plus delay", t0, 40 * time.Second, t0, t0.Add(5 * time.Second), 45 * time.Second},
		{"apparent age wins", t0.Add(-100 * time.Second), 10 * time.Second, t0, t0.Add(time.Second), 101 * time.Second},
		{"no date", time.Time{}, 7 * time.Second, t0, t0, 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := correctedInitialAge(tc.date, tc.age, tc.reqTime, tc.respTime); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestFreshness stores one response, moves the clock by advance and checks
// whether the second request is a hit.
func TestFreshness(t *testing.T) {
	date := func(clk *clock, d time.Duration) string { return clk.Now().Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name    string
		s       Settings
		headers func(clk *clock) []string
		advance time.Duration
		want    Status
	}{
		{"max-age fresh", Settings{}, func(*clock) []string { return []string{"Cache-Control", "max-age=60"} }, 59 * time.Second, StatusHit},
		{"max-age stale", Settings{}, func(*clock) []string { return []string{"Cache-Control", "max-age=60"} }, 61 * time.Second, StatusMiss},
		{"s-maxage wins over max-age", Settings{}, func(*clock) []string {
			return []string{"Cache-Control", "max-age=100, s-maxage=10"}
		}, 11 * time.Second, StatusMiss},
		{"s-maxage longer than max-age", Settings{}, func(*clock) []string {
			return []string{"Cache-Control", "max-age=1, s-maxage=100"}
		}, 50 * time.Second, StatusHit},
		{"expires fresh", Settings{}, func(c *clock) []string {
			return []string{"Date", date(c, 0), "Expires", date(c, 30*time.Second)}
		}, 29 * time.Second, StatusHit},
		{"expires stale", Settings{}, func(c *clock) []string {
			return []string{"Date", date(c, 0), "Expires", date(c, 30*time.Second)}
		}, 31 * time.Second, StatusMiss},
		{"expires invalid means expired", Settings{TTL: time.Hour}, func(*clock) []string { return []string{"Expires", "0"} }, 0, StatusMiss},
		{"max-age beats expires", Settings{}, func(c *clock) []string {
			return []string{"Cache-Control", "max-age=100", "Date", date(c, 0), "Expires", date(c, time.Second)}
		}, 50 * time.Second, StatusHit},
		{"heuristic ttl fresh", Settings{TTL: 300 * time.Second}, func(*clock) []string { return nil }, 299 * time.Second, StatusHit},
		{"heuristic ttl stale", Settings{TTL: 300 * time.Second}, func(*clock) []string { return nil }, 301 * time.Second, StatusMiss},
		{"ttl 0 stores nothing implicit", Settings{}, func(*clock) []string { return nil }, 0, StatusMiss},
		{"max_ttl caps max-age", Settings{MaxTTL: 100 * time.Second}, func(*clock) []string {
			return []string{"Cache-Control", "max-age=1000"}
		}, 101 * time.Second, StatusMiss},
		{"max_ttl caps heuristic", Settings{TTL: time.Hour, MaxTTL: 10 * time.Second}, func(*clock) []string { return nil }, 11 * time.Second, StatusMiss},
		{"upstream age counts", Settings{}, func(*clock) []string {
			return []string{"Cache-Control", "max-age=60", "Age", "50"}
		}, 11 * time.Second, StatusMiss},
		{"upstream age still fresh", Settings{}, func(*clock) []string {
			return []string{"Cache-Control", "max-age=60", "Age", "50"}
		}, 9 * time.Second, StatusHit},
		{"old date counts", Settings{}, func(c *clock) []string {
			return []string{"Cache-Control", "max-age=60", "Date", date(c, -30*time.Second)}
		}, 31 * time.Second, StatusMiss},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newTestCache(t, tc.s)
			o := &origin{handler: respond(200, "body", tc.headers(clk)...)}
			if _, st := do(t, c, "GET", "http://example.com/a", o.fetch); st != StatusMiss {
				t.Fatalf("first request: %s", st)
			}
			clk.Advance(tc.advance)
			w, st := do(t, c, "GET", "http://example.com/a", o.fetch)
			if st != tc.want && !(tc.want == StatusMiss && st == StatusExpired) {
				t.Fatalf("second request: %s, want %s (Cache-Status %q)", st, tc.want, cacheStatusOf(w))
			}
			if w.Body.String() != "body" {
				t.Fatalf("body %q", w.Body.String())
			}
			wantCalls := int32(2)
			if tc.want == StatusHit {
				wantCalls = 1
			}
			if n := o.calls.Load(); n != wantCalls {
				t.Fatalf("backend called %d times, want %d", n, wantCalls)
			}
		})
	}
}

// TestAgeHeader checks the Age served on a hit: upstream Age, the delay of
// the fetch, and the time resident in the cache.
func TestAgeHeader(t *testing.T) {
	c, clk := newTestCache(t, Settings{})
	o := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		clk.Advance(5 * time.Second) // response delay
		respond(200, "x", "Cache-Control", "max-age=600", "Age", "10")(w, r)
	}}
	do(t, c, "GET", "http://example.com/age", o.fetch)
	clk.Advance(20 * time.Second)
	w, st := do(t, c, "GET", "http://example.com/age", o.fetch)
	if st != StatusHit {
		t.Fatalf("status %s", st)
	}
	if got := w.Header().Get("Age"); got != "35" { // 10 upstream + 5 delay + 20 resident
		t.Fatalf("Age = %q, want 35", got)
	}
	if got := cacheStatusOf(w); got != "smartproxy; hit" {
		t.Fatalf("Cache-Status = %q", got)
	}
}

func TestAgeValueBeyondTable(t *testing.T) {
	if got := ageValue(ageTableSize * time.Second); got != "4096" {
		t.Fatalf("ageValue = %q", got)
	}
	if got := ageValue(3 * time.Second); got != "3" {
		t.Fatalf("ageValue = %q", got)
	}
	if got := ageValue(-time.Second); got != "0" {
		t.Fatalf("ageValue = %q", got)
	}
}
