package cache

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// benchCache returns a cache holding a 1 KiB response for the bench URL,
// and a request for it.
func benchCache(b *testing.B) (*Cache, *http.Request) {
	c, err := New(Settings{})
	if err != nil {
		b.Fatal(err)
	}
	o := &origin{handler: respond(200, strings.Repeat("x", 1024),
		"Cache-Control", "public, max-age=3600", "Content-Type", "text/plain; charset=utf-8",
		"ETag", `"abc"`, "Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")}
	r := mustRequest("GET", "http://example.com/static/app.js?v=3")
	r.Header.Set("Accept-Encoding", "gzip")
	r.Header.Set("User-Agent", "bench")
	if _, err := c.Serve(newDiscard(), r, o.fetch); err != nil {
		b.Fatal(err)
	}
	return c, r
}

func failFetch(http.ResponseWriter, *http.Request) error { panic("hit path fetched") }

func BenchmarkServeHit(b *testing.B) {
	c, r := benchCache(b)
	w := newDiscard()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		if st, _ := c.Serve(w, r, failFetch); st != StatusHit {
			b.Fatal(st)
		}
	}
}

func BenchmarkServeHitParallel(b *testing.B) {
	c, r := benchCache(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := newDiscard()
		for pb.Next() {
			clear(w.h)
			w.code = 0
			if st, _ := c.Serve(w, r, failFetch); st != StatusHit {
				b.Fatal(st)
			}
		}
	})
}

// BenchmarkServeMissStore measures the forward path: a miss that is
// streamed and stored (the entry is purged each time).
func BenchmarkServeMissStore(b *testing.B) {
	c, r := benchCache(b)
	o := &origin{handler: respond(200, strings.Repeat("x", 1024), "Cache-Control", "max-age=60")}
	w := newDiscard()
	b.ReportAllocs()
	for b.Loop() {
		c.PurgeAll()
		clear(w.h)
		w.code = 0
		if st, _ := c.Serve(w, r, o.fetch); st != StatusMiss {
			b.Fatal(st)
		}
	}
}

func BenchmarkParseRequestDirectives(b *testing.B) {
	h := http.Header{"Cache-Control": {"max-age=0, no-cache, max-stale=30, min-fresh=5"}}
	b.ReportAllocs()
	for b.Loop() {
		if d := parseRequestDirectives(h); !d.noCache {
			b.Fatal(d)
		}
	}
}

func BenchmarkDefaultKey(b *testing.B) {
	r := mustRequest("GET", "http://example.com/static/app.js?v=3")
	var buf [keyBufSize]byte
	b.ReportAllocs()
	for b.Loop() {
		if k := DefaultKey(buf[:0], r); len(k) == 0 {
			b.Fatal("empty key")
		}
	}
}

// BenchmarkServeHitVary measures a hit on the oldest of a URL's full set
// of Vary variants, the lookup that used to scan them all.
func BenchmarkServeHitVary(b *testing.B) {
	c, err := New(Settings{})
	if err != nil {
		b.Fatal(err)
	}
	o := varyOrigin()
	var oldest *http.Request
	for i := range DefaultMaxVariants {
		r := mustRequest("GET", "http://example.com/v")
		r.Header.Set("X-V", strings.Repeat("v", 20)+strconv.Itoa(i))
		if _, err := c.Serve(newDiscard(), r, o.fetch); err != nil {
			b.Fatal(err)
		}
		if oldest == nil {
			oldest = r
		}
	}
	w := newDiscard()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		if st, _ := c.Serve(w, oldest, failFetch); st != StatusHit {
			b.Fatal(st)
		}
	}
}

// BenchmarkServeBackgroundHit is the hit path the handler takes
// (ServeBackground): it must cost what Serve's does, allocation-free.
func BenchmarkServeBackgroundHit(b *testing.B) {
	c, r := benchCache(b)
	w := newDiscard()
	bg := Background{Context: context.Background()}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		if st, _ := c.ServeBackground(w, r, failFetch, bg); st != StatusHit {
			b.Fatal(st)
		}
	}
}
