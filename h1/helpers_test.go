package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor bounds every wait in these tests: generous, so a slow shared
// machine does not fail them, yet finite, so a hang shows as a failure.
const waitFor = 10 * time.Second

// countingServer is an httptest server that counts the connections it
// accepted and has open.
type countingServer struct {
	*httptest.Server
	accepted atomic.Int64
	open     atomic.Int64
}

func newCountingServer(t testing.TB, h http.Handler) *countingServer {
	t.Helper()
	cs := &countingServer{Server: httptest.NewUnstartedServer(h)}
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			cs.accepted.Add(1)
			cs.open.Add(1)
		case http.StateHijacked, http.StateClosed:
			cs.open.Add(-1)
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

// rawServer accepts connections and hands each to serve, for backends
// that must misbehave in ways net/http's server will not.
type rawServer struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newRawServer(t testing.TB, serve func(n int, c net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawServer{ln: ln}
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(rs.accepted.Add(1))
			rs.mu.Lock()
			rs.conns = append(rs.conns, c)
			rs.mu.Unlock()
			rs.wg.Add(1)
			go func() {
				defer rs.wg.Done()
				defer c.Close()
				serve(n, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		rs.mu.Lock()
		for _, c := range rs.conns {
			c.Close()
		}
		rs.mu.Unlock()
		rs.wg.Wait()
	})
	return rs
}

func (rs *rawServer) url() string { return "http://" + rs.ln.Addr().String() }

// readRequest reads one request and its body from br.
func readRequest(br *bufio.Reader) (*http.Request, string, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(req.Body)
	return req, string(b), err
}

func get(t testing.TB, tr *Transport, url string) (*http.Response, string) {
	t.Helper()
	return do(t, tr, mustReq(t, context.Background(), "GET", url, nil))
}

func do(t testing.TB, tr *Transport, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body of %s: %v", req.URL, err)
	}
	resp.Body.Close()
	return resp, string(b)
}

func mustReq(t testing.TB, ctx context.Context, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// waitClosed waits, at most waitFor, for a test backend to tell on closed
// that the proxy closed its connection.
func waitClosed(t *testing.T, closed <-chan struct{}) {
	t.Helper()
	select {
	case <-closed:
	case <-time.After(waitFor):
		t.Fatal("the backend connection stayed open")
	}
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// roundTripAsync runs req through tr on a goroutine of its own and reports
// its error, or the error of reading the body to the end, on the channel.
func roundTripAsync(tr *Transport, req *http.Request) <-chan error {
	done := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	return done
}

// onceBody is a request body that cannot be replayed (no GetBody).
func onceBody(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }
