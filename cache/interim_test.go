package cache

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// interimRecorder is an httptest.ResponseRecorder that, like net/http's
// server, sends a 1xx with the header map as it stands and keeps going.
type interimRecorder struct {
	*httptest.ResponseRecorder
	interim []string // "103 map[Link:[...]]" per 1xx written
}

func (w *interimRecorder) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.interim = append(w.interim, fmt.Sprint(code, " ", w.Header()))
		return
	}
	w.ResponseRecorder.WriteHeader(code)
}

// TestInterimNeverStored_RFC9110_15_2: a 103 Early Hints (RFC 8297) and a
// 102 written by fetch reach the client before the final response with
// their own fields, and those fields are neither in the final response nor
// in the stored one that later hits are served from.
func TestInterimNeverStored_RFC9110_15_2(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusProcessing)
		w.Header().Set("Cache-Control", "max-age=60")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("body"))
	}}
	r := httptest.NewRequest("GET", "http://example.com/hints", nil)
	w := &interimRecorder{ResponseRecorder: httptest.NewRecorder()}
	w.Header().Set("Server", "front") // set by an earlier handler: kept
	st, err := c.Serve(w, r, o.fetch)
	if err != nil || st != StatusMiss {
		t.Fatalf("first: %v %v", st, err)
	}
	want := []string{"103 map[Link:[</a.css>; rel=preload] Server:[front]]", "102 map[Server:[front]]"}
	if fmt.Sprint(w.interim) != fmt.Sprint(want) {
		t.Errorf("interim responses %q, want %q", w.interim, want)
	}
	if got := w.Result().Header; got.Get("Link") != "" || got.Get("Server") != "front" || w.Code != 200 {
		t.Errorf("final response %d %v: want 200 without Link, with Server", w.Code, got)
	}
	hit, st := do(t, c, "GET", "http://example.com/hints", o.fetch)
	if st != StatusHit || hit.Header().Get("Link") != "" || hit.Body.String() != "body" {
		t.Errorf("hit %v: headers %v body %q; want no Link", st, hit.Header(), hit.Body)
	}
}

// TestInterimKeepsClientFields: a client's field that an interim response
// also names is put back after the interim response is sent.
func TestInterimKeepsClientFields(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Link", "</hint>")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusOK)
	}}
	w := &interimRecorder{ResponseRecorder: httptest.NewRecorder()}
	w.Header().Set("Link", "</own>")
	if _, err := c.Serve(w, httptest.NewRequest("GET", "http://example.com/k", nil), o.fetch); err != nil {
		t.Fatal(err)
	}
	if len(w.interim) != 1 || w.interim[0] != "103 map[Link:[</hint>]]" {
		t.Errorf("interim %q", w.interim)
	}
	if got := w.Result().Header["Link"]; len(got) != 1 || got[0] != "</own>" {
		t.Errorf("final Link %q, want the client's own", got)
	}
}
