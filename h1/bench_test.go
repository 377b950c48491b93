package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// benchTransports are the round trippers compared: this package's, with a
// request context that can end (as a server's always can: the watcher is
// armed) and without, then as the proxy configures it (header timeout,
// polling for the answer: see spin.go), and net/http's Transport sized
// like the proxy's.
func benchTransports(b *testing.B) []struct {
	name string
	rt   http.RoundTripper
	ctx  func() (context.Context, context.CancelFunc)
} {
	h1 := New(Config{})
	proxyLike := New(Config{ResponseHeaderTimeout: 30 * time.Second, SpinWait: 100 * time.Microsecond})
	tonly := New(Config{ResponseHeaderTimeout: 30 * time.Second})
	sonly := New(Config{SpinWait: 100 * time.Microsecond})
	std := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	b.Cleanup(func() {
		h1.Close()
		proxyLike.Close()
		std.CloseIdleConnections()
	})
	bg := func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }
	cancelable := func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }
	return []struct {
		name string
		rt   http.RoundTripper
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"h1", h1, bg},
		{"h1-cancelable-ctx", h1, cancelable},
		{"h1-timeout-spin", proxyLike, cancelable},
		{"h1-timeout", tonly, cancelable},
		{"h1-spin", sonly, cancelable},
		{"nethttp", std, cancelable},
	}
}

// benchServer is a backend that allocates nothing per request, so that
// B/op and allocs/op are the client's: it skips each request head (GETs
// carry no body) and writes a canned 1 KiB response.
func benchServer(b testing.TB) string {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n" +
		"Content-Length: 1024\r\n\r\n" + strings.Repeat("x", 1024))
	rs := newRawServer(b, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) <= 2 {
					break
				}
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	})
	return rs.url() + "/bench?q=1"
}

func roundTripOnce(b testing.TB, rt http.RoundTripper, req *http.Request) {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != 1024 {
		b.Fatalf("body: %d bytes, %v", n, err)
	}
}

// BenchmarkRoundTrip measures one GET of a 1 KiB body on a reused
// connection, body read and closed.
func BenchmarkRoundTrip(b *testing.B) {
	url := benchServer(b)
	for _, bt := range benchTransports(b) {
		b.Run(bt.name, func(b *testing.B) {
			ctx, cancel := bt.ctx()
			defer cancel()
			req := mustReq(b, ctx, "GET", url, nil)
			req.Header.Set("User-Agent", "")
			roundTripOnce(b, bt.rt, req) // warm the pool
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				roundTripOnce(b, bt.rt, req)
			}
		})
	}
}

// BenchmarkRoundTripParallel is BenchmarkRoundTrip from GOMAXPROCS
// goroutines at once.
func BenchmarkRoundTripParallel(b *testing.B) {
	url := benchServer(b)
	for _, bt := range benchTransports(b) {
		b.Run(bt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx, cancel := bt.ctx()
				defer cancel()
				req := mustReq(b, ctx, "GET", url, nil)
				req.Header.Set("User-Agent", "")
				for pb.Next() {
					roundTripOnce(b, bt.rt, req)
				}
			})
		})
	}
}

// TestAllocsPerRoundTrip guards the allocation budget of a round trip on
// a reused connection: net/http's framing allocates about 15 times (the
// Response, its header map and strings, the transfer writer); a plain head
// parsed in place takes four (head.go), and a bodiless request's context,
// followed by the read deadline, none (deadline.go; a watcher took two
// more here, five under a server's per-request context).
func TestAllocsPerRoundTrip(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	url := benchServer(t)
	tr := New(Config{})
	defer tr.Close()
	cases := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		max  float64
	}{
		{"background context", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }, 4},
		{"cancelable context", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			req := mustReq(t, ctx, "GET", url, nil)
			req.Header.Set("User-Agent", "")
			allocs := testing.AllocsPerRun(200, func() {
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
			if allocs > tc.max {
				t.Errorf("%.1f allocations per round trip, budget %.0f", allocs, tc.max)
			}
		})
	}
}

// BenchmarkQuiet measures the check a connection passes when it leaves
// the pool (a buffer check and one non-blocking MSG_PEEK), with the read
// deadline armed as it is after an exchange ("armed"), and expired, as
// after a lull longer than the context check ("expired": each iteration
// also sets that deadline again, in the past, which the check then meets).
func BenchmarkQuiet(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	tr := New(Config{})
	defer tr.Close()
	c, err := tr.dialConn(context.Background(), tr.hostPool(ln.Addr().String()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.close()
	b.Run("armed", func(b *testing.B) {
		c.setReadDeadline(time.Now().Add(time.Hour))
		b.ReportAllocs()
		for b.Loop() {
			if !c.quiet() {
				b.Fatal("a silent connection is not quiet")
			}
		}
	})
	b.Run("expired", func(b *testing.B) {
		past := time.Now().Add(-time.Second)
		b.ReportAllocs()
		for b.Loop() {
			c.deadline = past
			c.nc.SetReadDeadline(past)
			if !c.quiet() {
				b.Fatal("a silent connection is not quiet")
			}
		}
	})
}
