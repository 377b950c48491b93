package forward

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// Benchmarks of the per-request work, with the allocations it makes. The
// pooled outbound request, header stripping and X-Forwarded-* allocate
// nothing; copying allocates nothing without flushing.

// clientRequest is a request as the server hands it over, from client
// 192.0.2.7, with header h.
func clientRequest(method, target string, body io.Reader, h http.Header) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = "192.0.2.7:1234"
	r.Header = h
	return r
}

func benchRequest() *http.Request {
	return clientRequest("GET", "http://example.com/a/b?c=d", nil, http.Header{
		"Accept": {"*/*"}, "User-Agent": {"bench"}, "Connection": {"keep-alive"}, "X-Forwarded-For": {"6.6.6.6"},
	})
}

func BenchmarkNewOutboundPooled(b *testing.B) { benchOutbound(b, benchRequest()) }

// BenchmarkNewOutboundPooledBare: a request as wrk and curl send it, with
// no Connection field.
func BenchmarkNewOutboundPooledBare(b *testing.B) {
	benchOutbound(b, clientRequest("GET", "http://example.com/a/b?c=d", nil,
		http.Header{"Accept": {"*/*"}, "User-Agent": {"bench"}}))
}

// benchOutbound makes r's pooled outbound request, aims it and releases it.
func benchOutbound(b *testing.B, r *http.Request) {
	target, _ := url.Parse("http://10.0.0.1:8080")
	b.ReportAllocs()
	for b.Loop() {
		o := NewOutbound(r, true, false)
		SetTarget(&o.Req, r, target)
		o.Release()
	}
}

func BenchmarkRemoveHopHeaders(b *testing.B) {
	src := http.Header{"Connection": {"X-A, close"}, "X-A": {"1"}, "Keep-Alive": {"5"}, "Accept": {"*/*"}}
	h := make(http.Header, 8)
	b.ReportAllocs()
	for b.Loop() {
		for k, v := range src {
			h[k] = v
		}
		RemoveHopHeaders(h)
	}
}

func BenchmarkSetForwarded(b *testing.B) {
	r := benchRequest()
	h := make(http.Header, 8)
	var buf [2]string
	b.ReportAllocs()
	for b.Loop() {
		SetForwarded(h, r, false, &buf)
	}
}

func BenchmarkUpgradeType(b *testing.B) {
	h := http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"websocket"}}
	b.ReportAllocs()
	for b.Loop() {
		if UpgradeType(h) == "" {
			b.Fatal("no upgrade")
		}
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(p []byte) (int, error) { return len(p), nil }
func (d discard) WriteHeader(int)             {}

func BenchmarkCopyBody1K(b *testing.B) { benchCopyBody(b, 1024) }

// A 1 MiB body known by its length goes through a pooled large buffer:
// four reads and writes, no allocation.
func BenchmarkCopyBody1M(b *testing.B) { benchCopyBody(b, 1<<20) }

func benchCopyBody(b *testing.B, size int) {
	body := strings.Repeat("x", size)
	w := discard{h: http.Header{}}
	src := strings.NewReader(body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		src.Reset(body)
		if _, err := CopyBody(w, src, int64(len(body)), false); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHotPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	r := benchRequest()
	target, _ := url.Parse("http://10.0.0.1:8080")
	if n := testing.AllocsPerRun(100, func() {
		o := NewOutbound(r, true, false)
		SetTarget(&o.Req, r, target)
		o.Release()
	}); n != 0 {
		t.Errorf("a pooled outbound request: %v allocations, want 0", n)
	}
	body := strings.Repeat("x", 1024)
	src := strings.NewReader(body)
	w := discard{h: http.Header{}}
	if n := testing.AllocsPerRun(100, func() { src.Reset(body); CopyBody(w, src, int64(len(body)), false) }); n != 0 {
		t.Errorf("CopyBody: %v allocations, want 0", n)
	}
}
