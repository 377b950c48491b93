package cache

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// storedEntry stores one response in a fresh cache and returns the entry.
func storedEntry(t testing.TB, kv ...string) (*Cache, *entry) {
	t.Helper()
	c, _ := newTestCache(t, Settings{})
	o := &origin{handler: respond(200, "the body", kv...)}
	do(t, c, "GET", "http://example.com/r", o.fetch, "Accept-Language", "fr")
	e, _ := c.store.get([]byte("GET http://example.com/r"), func() *http.Request {
		r := mustRequest("GET", "http://example.com/r")
		r.Header.Set("Accept-Language", "fr")
		return r
	}())
	if e == nil {
		t.Fatal("not stored")
	}
	return c, e
}

func TestRecordRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   []string
	}{
		{"plain", []string{"Cache-Control", "max-age=60", "X-A", "1", "X-A", "2"}},
		{"vary, tags, validators, upstream status", []string{"Cache-Control", "s-maxage=60, stale-while-revalidate=5", "Vary", "Accept-Language",
			"Etag", `"v1"`, "Last-Modified", "Mon, 03 Feb 2025 10:00:00 GMT", "Surrogate-Key", "a b", "Cache-Status", "upstream; hit"}},
		{"no-cache, heuristic-free", []string{"Cache-Control", "no-cache, max-age=0", "Etag", `"x"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, e := storedEntry(t, tc.kv...)
			got, names, err := c.decodeRecord(e.appendRecord(nil), e.key, e.secondary)
			if err != nil || names != nil {
				t.Fatalf("decode: %v %v", err, names)
			}
			for _, cmp := range []struct {
				what      string
				got, want any
			}{
				{"status", got.status, e.status}, {"body", string(got.body), string(e.body)},
				{"fields", fieldMap(got.fields), fieldMap(e.fields)}, {"hidden", fieldMap(got.hidden), fieldMap(e.hidden)},
				{"304 fields", fieldMap(got.notModified), fieldMap(e.notModified)}, {"hit status", got.hitStatus, e.hitStatus},
				{"tags", got.tags, e.tags}, {"vary", got.varyNames, e.varyNames}, {"etag", got.etag, e.etag},
				{"last modified", got.lastModified, e.lastModified}, {"age", got.initialAge, e.initialAge},
				{"lifetime", got.lifetime, e.lifetime}, {"swr", got.swr, e.swr},
				{"flags", [3]bool{got.noCache, got.noStale, got.heuristic}, [3]bool{e.noCache, e.noStale, e.heuristic}},
				{"response time", got.responseTime.UnixNano(), e.responseTime.UnixNano()},
			} {
				if !reflect.DeepEqual(cmp.got, cmp.want) {
					t.Errorf("%s: got %v, want %v", cmp.what, cmp.got, cmp.want)
				}
			}
			if len(e.varyNames) > 0 {
				_, names, err := c.decodeRecord(appendVaryRecord(nil, e.key, e.varyNames), e.key, "")
				if err != nil || !reflect.DeepEqual(names, e.varyNames) {
					t.Fatalf("vary record: %v %v", names, err)
				}
			}
		})
	}
}

func fieldMap(fs []field) map[string][]string {
	m := map[string][]string{}
	for _, f := range fs {
		m[f.name] = f.values
	}
	return m
}

func TestRecordRefused(t *testing.T) {
	c, e := storedEntry(t, "Cache-Control", "max-age=60", "X-A", "1")
	good := e.appendRecord(nil)
	swap := func(old, new string) []byte { return bytes.Replace(good, []byte(old), []byte(new), 1) }
	for _, tc := range []struct {
		name      string
		rec       []byte
		key, sec  string
		wantError string
	}{
		{"another key", good, "GET http://example.com/other", "", "another key"},
		{"another variant", good, e.key, "Accept-Language:fr\n", "another variant"},
		{"old version", append([]byte("SPC\x00"), good[4:]...), e.key, "", "format version"},
		{"empty", nil, e.key, "", "format version"},
		{"trailing bytes", append(append([]byte(nil), good...), 0), e.key, "", "after the record"},
		{"unknown kind", swap("SPC\x01E", "SPC\x01Z"), e.key, "", "kind"},
		{"hop-by-hop field", swap("\x03X-A", "\x03Te\x00"), e.key, "", "may not be stored"},
		{"lower-case field", swap("\x03X-A", "\x03x-a"), e.key, "", "may not be stored"},
		{"control character in a value", swap("\x011", "\x01\n"), e.key, "", "control character"},
		{"body longer than the record", append(good[:len(good)-len("the body")-1], 0x7f), e.key, "", "body: bad or over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.decodeRecord(tc.rec, tc.key, tc.sec)
			if !errors.Is(err, ErrBadRecord) || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("error %v, want ErrBadRecord saying %q", err, tc.wantError)
			}
		})
	}
	for i := range good {
		if _, _, err := c.decodeRecord(good[:i], e.key, ""); err == nil {
			t.Fatalf("a record cut at %d of %d bytes decoded", i, len(good))
		}
	}
}

// FuzzDecodeRecord: whatever a shared store hands back, decoding neither
// panics nor accepts a record that does not encode back to itself.
func FuzzDecodeRecord(f *testing.F) {
	c, e := storedEntry(f, "Cache-Control", "max-age=60", "Vary", "Accept-Language", "Etag", `"v"`, "Surrogate-Key", "a")
	f.Add(e.appendRecord(nil), true)
	f.Add(appendVaryRecord(nil, e.key, e.varyNames), false)
	f.Fuzz(func(t *testing.T, rec []byte, variant bool) {
		sec := ""
		if variant {
			sec = e.secondary
		}
		got, names, err := c.decodeRecord(rec, e.key, sec)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error %v does not wrap ErrBadRecord", err)
			}
			return
		}
		if got == nil {
			if again := appendVaryRecord(nil, e.key, names); !bytes.Equal(again, rec) {
				t.Fatalf("vary record %q re-encodes as %q", rec, again)
			}
			return
		}
		if got.status < 200 || got.lifetime < 0 || got.initialAge < 0 || got.responseTime.Before(time.Unix(0, 0)) {
			t.Fatalf("accepted an impossible entry: %+v", got)
		}
		again, _, err := c.decodeRecord(got.appendRecord(nil), e.key, sec)
		if err != nil || string(again.body) != string(got.body) || !reflect.DeepEqual(fieldMap(again.fields), fieldMap(got.fields)) {
			t.Fatalf("an accepted record does not survive a round trip: %v", err)
		}
	})
}
