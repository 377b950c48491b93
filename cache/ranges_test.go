package cache

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rangeOrigin serves body with an ETag and Last-Modified through
// http.ServeContent, so it honours Range itself, and records the Range of
// every request it gets.
func rangeOrigin(body string, ranges *[]string) *origin {
	lm := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		*ranges = append(*ranges, r.Header.Get("Range"))
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Etag", `"v1"`)
		w.Header().Set("Content-Type", "text/plain")
		http.ServeContent(w, r, "", lm, strings.NewReader(body))
	}}
}

// TestRangeFromCache_RFC9110_14: single ranges on a stored 200 are cut
// from memory, with If-Range, 416 and ignorable Range fields as RFC 9110
// says; several ranges go to the origin.
func TestRangeFromCache_RFC9110_14(t *testing.T) {
	lm := "Mon, 01 Jan 2024 00:00:00 GMT"
	tests := []struct {
		name   string
		kv     []string
		code   int
		body   string
		crange string
		st     Status
	}{
		{"first-last", []string{"Range", "bytes=0-3"}, 206, "0123", "bytes 0-3/10", StatusHit},
		{"open-ended", []string{"Range", "bytes=7-"}, 206, "789", "bytes 7-9/10", StatusHit},
		{"suffix", []string{"Range", "bytes=-3"}, 206, "789", "bytes 7-9/10", StatusHit},
		{"suffix longer than the body", []string{"Range", "bytes=-20"}, 206, "0123456789", "bytes 0-9/10", StatusHit},
		{"last past the end", []string{"Range", "bytes=5-100"}, 206, "56789", "bytes 5-9/10", StatusHit},
		{"start past the end", []string{"Range", "bytes=10-"}, 416, "", "bytes */10", StatusHit},
		{"empty suffix", []string{"Range", "bytes=-0"}, 416, "", "bytes */10", StatusHit},
		{"last before first: ignored", []string{"Range", "bytes=3-1"}, 200, "0123456789", "", StatusHit},
		{"other unit: ignored", []string{"Range", "items=0-1"}, 200, "0123456789", "", StatusHit},
		{"If-Range same ETag", []string{"Range", "bytes=0-1", "If-Range", `"v1"`}, 206, "01", "bytes 0-1/10", StatusHit},
		{"If-Range other ETag", []string{"Range", "bytes=0-1", "If-Range", `"v2"`}, 200, "0123456789", "", StatusHit},
		{"If-Range weak ETag", []string{"Range", "bytes=0-1", "If-Range", `W/"v1"`}, 200, "0123456789", "", StatusHit},
		{"If-Range Last-Modified", []string{"Range", "bytes=0-1", "If-Range", lm}, 206, "01", "bytes 0-1/10", StatusHit},
		{"If-Range other date", []string{"Range", "bytes=0-1", "If-Range", "Tue, 02 Jan 2024 00:00:00 GMT"}, 200, "0123456789", "", StatusHit},
		{"If-None-Match first", []string{"Range", "bytes=0-1", "If-None-Match", `"v1"`}, 304, "", "", StatusHit},
		{"several ranges to the origin", []string{"Range", "bytes=0-0,2-3"}, 206, "", "", StatusBypass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestCache(t, Settings{})
			var ranges []string
			o := rangeOrigin("0123456789", &ranges)
			do(t, c, "GET", "http://example.com/r", o.fetch)
			w, st := do(t, c, "GET", "http://example.com/r", o.fetch, tt.kv...)
			if st != tt.st || w.Code != tt.code || w.Header().Get("Content-Range") != tt.crange {
				t.Fatalf("%v %d Content-Range %q, want %v %d %q", st, w.Code, w.Header().Get("Content-Range"), tt.st, tt.code, tt.crange)
			}
			if tt.st == StatusHit && w.Body.String() != tt.body {
				t.Errorf("body %q, want %q", w.Body, tt.body)
			}
			if tt.code == 206 && tt.st == StatusHit && w.Header().Get("Content-Length") != strconv.Itoa(len(tt.body)) {
				t.Errorf("Content-Length %q", w.Header().Get("Content-Length"))
			}
		})
	}
}

// TestRangeMissFetchesWhole: a range miss fetches the whole response
// (no Range sent), stores it and answers the range; a response too large
// to store is given up and the range asked of the origin, whose 206 passes
// through unstored.
func TestRangeMissFetchesWhole(t *testing.T) {
	c, _ := newTestCache(t, Settings{MaxEntryBytes: 4096})
	var ranges []string
	o := rangeOrigin("0123456789", &ranges)
	w, st := do(t, c, "GET", "http://example.com/m", o.fetch, "Range", "bytes=2-4")
	if st != StatusMiss || w.Code != 206 || w.Body.String() != "234" || w.Header().Get("Content-Range") != "bytes 2-4/10" {
		t.Fatalf("range miss: %v %d %q %v", st, w.Code, w.Body, w.Header())
	}
	full, st := do(t, c, "GET", "http://example.com/m", o.fetch)
	if st != StatusHit || full.Body.String() != "0123456789" {
		t.Errorf("after the range miss: %v %q, want the whole body stored", st, full.Body)
	}
	if len(ranges) != 1 || ranges[0] != "" {
		t.Errorf("origin saw ranges %q, want one request without Range", ranges)
	}

	big := strings.Repeat("b", 5000)
	ranges = nil
	ob := rangeOrigin(big, &ranges)
	w, _ = do(t, c, "GET", "http://example.com/big", ob.fetch, "Range", "bytes=0-9")
	if w.Code != 206 || w.Body.String() != big[:10] {
		t.Fatalf("large range miss: %d %q", w.Code, w.Body)
	}
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes=0-9" {
		t.Errorf("origin saw ranges %q, want the whole, then the range", ranges)
	}
	if _, st := do(t, c, "GET", "http://example.com/big", ob.fetch); st == StatusHit {
		t.Errorf("a response over max_entry_bytes or a 206 was stored")
	}
}

// TestRangeMissUncacheable: a range miss whose whole response may not be
// stored still gets its range cut from it.
func TestRangeMissUncacheable(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "abcdef", "Cache-Control", "no-store")}
	w, _ := do(t, c, "GET", "http://example.com/u", o.fetch, "Range", "bytes=1-2")
	if w.Code != 206 || w.Body.String() != "bc" || !bytes.Contains([]byte(cacheStatusOf(w)), []byte("detail=no-store")) {
		t.Errorf("%d %q %q", w.Code, w.Body, cacheStatusOf(w))
	}
	if c.Stats().Stores != 0 {
		t.Errorf("stored a no-store response")
	}
}

// FuzzParseRange: any Range value parses without panic, and a single
// range resolves, in a body of any size, to bytes inside it.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-3", "bytes=-5", "bytes=7-", "bytes=0-0,2-3", "bytes=3-1", "items=1-2", "bytes=99999999999999999999-"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		br, kind := parseRange([]string{s})
		if kind != rangeSingle || n < 0 {
			return
		}
		if first, last, ok := br.resolve(n); ok && (first < 0 || last < first || last >= n) {
			t.Fatalf("%q in %d bytes: %d-%d", s, n, first, last)
		}
	})
}
