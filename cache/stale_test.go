package cache

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestStaleIfError(t *testing.T) {
	down := errors.New("dial tcp: connection refused")
	tests := []struct {
		name       string
		window     time.Duration
		respCC     string
		advance    time.Duration
		failStatus int // 0: fetch returns an error
		wantStale  bool
	}{
		{"error within window", time.Minute, "max-age=10", 30 * time.Second, 0, true},
		{"503 within window", time.Minute, "max-age=10", 30 * time.Second, 503, true},
		{"502 within window", time.Minute, "max-age=10", 30 * time.Second, 502, true},
		{"404 is an answer", time.Minute, "max-age=10", 30 * time.Second, 404, false},
		{"beyond window", time.Minute, "max-age=10", 80 * time.Second, 0, false},
		{"off by default", 0, "max-age=10", 11 * time.Second, 0, false},
		{"must-revalidate", time.Minute, "max-age=10, must-revalidate", 30 * time.Second, 0, false},
		{"proxy-revalidate", time.Minute, "max-age=10, proxy-revalidate", 30 * time.Second, 503, false},
		{"s-maxage", time.Minute, "s-maxage=10", 30 * time.Second, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newTestCache(t, Settings{StaleIfError: tc.window})
			ok := &origin{handler: respond(200, "good", "Cache-Control", tc.respCC)}
			do(t, c, "GET", "http://example.com/s", ok.fetch)
			clk.Advance(tc.advance)
			fail := func(w http.ResponseWriter, r *http.Request) error {
				if tc.failStatus == 0 {
					return down
				}
				respond(tc.failStatus, "bad")(w, r)
				return nil
			}
			w := httptest.NewRecorder()
			st, err := c.Serve(w, mustRequest("GET", "http://example.com/s"), fail)
			if tc.wantStale {
				if err != nil || st != StatusStale || w.Code != 200 || w.Body.String() != "good" {
					t.Fatalf("%s %v %d %q", st, err, w.Code, w.Body.String())
				}
				if cs := cacheStatusOf(w); !strings.HasPrefix(cs, "smartproxy; fwd=stale") || !strings.HasSuffix(cs, "detail=stale-if-error") {
					t.Fatalf("Cache-Status %q", cs)
				}
				if c.Stats().StaleServed != 1 {
					t.Fatal("stale not counted")
				}
				return
			}
			switch {
			case tc.failStatus == 0 && !errors.Is(err, down):
				t.Fatalf("err %v, want the fetch error", err)
			case tc.failStatus != 0 && (w.Code != tc.failStatus || w.Body.String() != "bad"):
				t.Fatalf("got %d %q, want the backend's answer", w.Code, w.Body.String())
			}
		})
	}
}

func TestFetchErrorNoEntry(t *testing.T) {
	c, _ := newTestCache(t, Settings{StaleIfError: time.Hour})
	down := errors.New("down")
	w := httptest.NewRecorder()
	st, err := c.Serve(w, mustRequest("GET", "http://example.com/x"), func(http.ResponseWriter, *http.Request) error { return down })
	if !errors.Is(err, down) || st != StatusNone || w.Body.Len() != 0 || len(w.Header()) != 0 {
		t.Fatalf("%s %v, wrote %d bytes %v", st, err, w.Body.Len(), w.Header())
	}
}
