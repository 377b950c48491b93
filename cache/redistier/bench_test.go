package redistier

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/cache"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

// nopWriter is a ResponseWriter that keeps one header map and drops the
// body, so the benchmark measures the cache, not a recorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) WriteHeader(int)             {}
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkHit compares a hit from memory with a hit from the Redis tier
// (the memory holds one entry and two URLs alternate, so every request
// misses memory and is answered from Redis: one HGET on loopback, the
// record decoded and stored in memory), for a 1 KiB and a 64 KiB body.
//
//	go test -run '^$' -bench Hit -benchmem ./cache/redistier
func BenchmarkHit(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("memory/%dKiB", size>>10), func(b *testing.B) { benchHit(b, true, size) })
		b.Run(fmt.Sprintf("redis/%dKiB", size>>10), func(b *testing.B) { benchHit(b, false, size) })
	}
}

func benchHit(b *testing.B, memoryOnly bool, size int) {
	r := redistest.Start(b)
	s := Settings{Addresses: []string{r.Addr}}
	c, err := New(s)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tr := c.Tier("bench")
	cs := cache.Settings{MaxSize: 1}
	if memoryOnly {
		cs.MaxSize = 10
	} else {
		cs.Tier = tr
	}
	cc, err := cache.New(cs)
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("x", size)
	fill := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(body))
		return nil
	}
	reqs := []*http.Request{httptest.NewRequest("GET", "http://a.example/1", nil), httptest.NewRequest("GET", "http://a.example/2", nil)}
	for _, rq := range reqs {
		if _, err := cc.Serve(httptest.NewRecorder(), rq, fill); err != nil {
			b.Fatal(err)
		}
	}
	noFetch := func(http.ResponseWriter, *http.Request) error {
		b.Fatal("the backend was asked")
		return nil
	}
	w := &nopWriter{h: make(http.Header)}
	want := cache.StatusHit
	if !memoryOnly {
		want = cache.StatusSharedHit
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := range b.N {
		clear(w.h)
		st, err := cc.Serve(w, reqs[i%2], noFetch)
		if err != nil || st != want {
			b.Fatalf("%v %v, want %v", st, err, want)
		}
	}
}
