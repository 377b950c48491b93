package cache

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a driven clock: tests move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// origin is a fake backend: fetch runs handler against the writer the
// cache gives it, as a proxy would copy a backend's response.
type origin struct {
	calls   atomic.Int32
	handler func(w http.ResponseWriter, r *http.Request)
	lastReq atomic.Pointer[http.Request]
}

func (o *origin) fetch(w http.ResponseWriter, r *http.Request) error {
	o.calls.Add(1)
	o.lastReq.Store(r)
	o.handler(w, r)
	return nil
}

// respond returns a handler writing status, headers (name: value pairs)
// and body.
func respond(status int, body string, kv ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Add(kv[i], kv[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func newTestCache(t testing.TB, s Settings) (*Cache, *clock) {
	t.Helper()
	clk := newClock()
	if s.Now == nil {
		s.Now = clk.Now
	}
	c, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

// do sends one request through c. kv are request header pairs.
func do(t testing.TB, c *Cache, method, target string, fetch FetchFunc, kv ...string) (*httptest.ResponseRecorder, Status) {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	w := httptest.NewRecorder()
	st, err := c.Serve(w, r, fetch)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return w, st
}

// cacheStatus returns our member of the Cache-Status header.
func cacheStatusOf(w *httptest.ResponseRecorder) string {
	vals := w.Result().Header.Values("Cache-Status")
	for i := len(vals) - 1; i >= 0; i-- {
		if strings.HasPrefix(vals[i], DefaultName+";") {
			return vals[i]
		}
	}
	return ""
}

// discard is a ResponseWriter that keeps one header map and counts bytes,
// for benchmarks and large bodies.
type discard struct {
	h       http.Header
	code    int
	n       int64
	flushes int
}

func newDiscard() *discard { return &discard{h: make(http.Header)} }

func (d *discard) Header() http.Header { return d.h }
func (d *discard) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
func (d *discard) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = 200
	}
	d.n += int64(len(p))
	return len(p), nil
}
func (d *discard) Flush() { d.flushes++ }

func mustRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}
