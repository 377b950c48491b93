package cache

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestLargeBodyStreamsUncached sends a 5 MiB body through a 1 MiB cap in
// 32 KiB writes: the client gets every byte, nothing is stored, and the
// recorder never held more than the cap.
func TestLargeBodyStreamsUncached(t *testing.T) {
	const size, limit = 5 << 20, 1 << 20
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	for _, withLength := range []bool{false, true} {
		t.Run("content-length="+strconv.FormatBool(withLength), func(t *testing.T) {
			c, _ := newTestCache(t, Settings{MaxEntryBytes: limit})
			var rec *recorder
			fetch := func(w http.ResponseWriter, _ *http.Request) error {
				rec = w.(*recorder)
				w.Header().Set("Cache-Control", "max-age=600")
				if withLength {
					w.Header().Set("Content-Length", strconv.Itoa(size))
				}
				for p := body; len(p) > 0; p = p[min(len(p), 32<<10):] {
					if _, err := w.Write(p[:min(len(p), 32<<10)]); err != nil {
						return err
					}
				}
				return nil
			}
			w := httptest.NewRecorder()
			if _, err := c.Serve(w, mustRequest("GET", "http://example.com/big"), fetch); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w.Body.Bytes(), body) {
				t.Fatalf("client got %d bytes, want %d", w.Body.Len(), size)
			}
			if rec.peak > limit {
				t.Fatalf("recorder held %d bytes, cap %d", rec.peak, limit)
			}
			if withLength && rec.peak != 0 {
				t.Fatalf("known oversize length still buffered %d bytes", rec.peak)
			}
			if st := c.Stats(); st.Entries != 0 || st.Stores != 0 {
				t.Fatalf("large body stored: %+v", st)
			}
		})
	}
}

// TestEntryAtCapStored: headers and body together up to MaxEntryBytes are
// stored, one byte more is not.
func TestEntryAtCapStored(t *testing.T) {
	room := 1024 - int(headerBytes(http.Header{"Cache-Control": {"max-age=60"}}))
	for _, tc := range []struct {
		body   int
		stored bool
	}{{room, true}, {room + 1, false}} {
		c, _ := newTestCache(t, Settings{MaxEntryBytes: 1024})
		o := &origin{handler: respond(200, string(bytes.Repeat([]byte("x"), tc.body)), "Cache-Control", "max-age=60")}
		do(t, c, "GET", "http://example.com/cap", o.fetch)
		if w, st := do(t, c, "GET", "http://example.com/cap", o.fetch); (st == StatusHit) != tc.stored || w.Body.Len() != tc.body {
			t.Fatalf("body %d: %s %d, stored want %v", tc.body, st, w.Body.Len(), tc.stored)
		}
	}
}

func TestTruncatedNotStored(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	cut := errors.New("backend reset")
	fetch := func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", "10")
		_, _ = w.Write([]byte("12345"))
		return cut
	}
	if _, err := c.Serve(httptest.NewRecorder(), mustRequest("GET", "http://example.com/t"), fetch); !errors.Is(err, cut) {
		t.Fatalf("err %v", err)
	}
	// Short body without an error (a lying Content-Length) is not stored either.
	short := func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", "10")
		_, _ = w.Write([]byte("12345"))
		return nil
	}
	_, _ = c.Serve(httptest.NewRecorder(), mustRequest("GET", "http://example.com/t"), short)
	if n := c.Stats().Entries; n != 0 {
		t.Fatalf("truncated response stored (%d entries)", n)
	}
}

func TestFlushAndUnwrap(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	d := newDiscard()
	var deadlineErr error
	fetch := func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush()
		_, _ = w.Write([]byte("data: 1\n\n"))
		if err := http.NewResponseController(w).Flush(); err != nil {
			return err
		}
		// Unwrap reaches d, which has no deadline support: the error proves
		// the controller walked through the recorder.
		deadlineErr = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		return nil
	}
	if _, err := c.Serve(d, mustRequest("GET", "http://example.com/sse"), fetch); err != nil {
		t.Fatal(err)
	}
	if d.flushes != 2 || d.code != 200 || d.n != 9 {
		t.Fatalf("flushes %d code %d bytes %d", d.flushes, d.code, d.n)
	}
	if !errors.Is(deadlineErr, http.ErrNotSupported) {
		t.Fatalf("SetWriteDeadline through recorder: %v", deadlineErr)
	}
	if u, ok := any(&recorder{w: d}).(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != d {
		t.Fatal("recorder does not unwrap")
	}
}

func TestTrailersPassAndNotStored(t *testing.T) {
	c, _ := newTestCache(t, Settings{})
	fetch := func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write([]byte("body"))
		w.Header().Set(http.TrailerPrefix+"X-Checksum", "abc")
		return nil
	}
	w := httptest.NewRecorder()
	if _, err := c.Serve(w, mustRequest("GET", "http://example.com/tr"), fetch); err != nil {
		t.Fatal(err)
	}
	if got := w.Result().Trailer.Get("X-Checksum"); got != "abc" {
		t.Fatalf("trailer lost: %q", got)
	}
	if n := c.Stats().Entries; n != 0 {
		t.Fatal("response with trailers stored")
	}
}

func TestEmptyFetchIs200(t *testing.T) {
	c, _ := newTestCache(t, Settings{TTL: time.Minute})
	w := httptest.NewRecorder()
	st, err := c.Serve(w, mustRequest("GET", "http://example.com/e"), func(http.ResponseWriter, *http.Request) error { return nil })
	if err != nil || st != StatusMiss || w.Code != 200 {
		t.Fatalf("%s %v %d", st, err, w.Code)
	}
}
