package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeepAliveReuse(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.RawQuery)
	}))
	tr := New(Config{})
	defer tr.Close()
	for i := range 100 {
		_, body := get(t, tr, fmt.Sprintf("%s/?%d", srv.URL, i))
		if body != fmt.Sprint(i) {
			t.Fatalf("request %d: body %q", i, body)
		}
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("100 sequential requests used %d connections, want 1", n)
	}
	if n := tr.idleCount(); n != 1 {
		t.Errorf("idle connections = %d, want 1", n)
	}
}

func TestConcurrentRequests(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	tr := New(Config{})
	defer tr.Close()
	const workers, each = 50, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				path := fmt.Sprintf("/%d/%d", g, i)
				resp, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", srv.URL+path, nil))
				if err != nil {
					errs <- err
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != path {
					errs <- fmt.Errorf("%s: body %q, err %v", path, b, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.accepted.Load(); n > workers {
		t.Errorf("%d connections for %d concurrent workers", n, workers)
	}
}

func TestMaxIdlePerHost(t *testing.T) {
	release := make(chan struct{})
	var started sync.WaitGroup
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Done()
		<-release
		io.WriteString(w, "ok")
	}))
	tr := New(Config{MaxIdlePerHost: 2})
	defer tr.Close()
	const n = 5
	started.Add(n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get(t, tr, srv.URL)
		}()
	}
	started.Wait()
	close(release)
	wg.Wait()
	if got := tr.idleCount(); got != 2 {
		t.Errorf("idle = %d, want MaxIdlePerHost 2", got)
	}
	eventually(t, "server to see the extra connections closed", func() bool { return srv.open.Load() == 2 })
}

func TestKeepAliveDisabled(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tr := New(Config{MaxIdlePerHost: -1})
	defer tr.Close()
	get(t, tr, srv.URL)
	get(t, tr, srv.URL)
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("connections = %d, want 2 with keep-alive off", n)
	}
}

// staleServer answers the first request on each connection; what it does
// with the second depends on mode:
//   - "idle-close": closes the connection right after the first answer,
//     as a server whose idle timeout struck;
//   - "process-close": reads the second request (counting it as
//     processed), then closes without answering.
func staleServer(t *testing.T, mode string) (*rawServer, *atomic.Int64, chan struct{}) {
	var processed atomic.Int64
	idleClosed := make(chan struct{}, 1)
	rs := newRawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			if i == 1 && mode == "idle-close" {
				c.Close()
				idleClosed <- struct{}{}
				return
			}
			req, body, err := readRequest(br)
			if err != nil {
				return
			}
			processed.Add(1)
			if i == 1 && mode == "process-close" {
				return
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.Method+body), req.Method+body)
		}
	})
	return rs, &processed, idleClosed
}

func TestStaleConnection(t *testing.T) {
	strBody := func(s string) io.Reader { return strings.NewReader(s) } // sets GetBody
	cases := []struct {
		name      string
		mode      string
		method    string
		body      func(string) io.Reader
		wantErr   bool
		processed int64 // requests the server read in all
	}{
		{"idle close, GET retried or checked", "idle-close", "GET", nil, false, 2},
		{"idle close, POST with GetBody", "idle-close", "POST", strBody, false, 2},
		{"idle close, POST without GetBody is checked before use", "idle-close", "POST", onceBody, false, 2},
		{"processed then closed, GET retried", "process-close", "GET", nil, false, 3},
		{"processed then closed, PUT with GetBody retried", "process-close", "PUT", strBody, false, 3},
		{"processed then closed, POST not duplicated", "process-close", "POST", strBody, true, 2},
		{"processed then closed, PUT body consumed not retried", "process-close", "PUT", onceBody, true, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, processed, idleClosed := staleServer(t, tc.mode)
			tr := New(Config{})
			defer tr.Close()
			get(t, tr, rs.url())
			if tc.mode == "idle-close" {
				// The backend closed the idle connection (on loopback
				// its FIN is in our socket once close returns).
				select {
				case <-idleClosed:
				case <-time.After(waitFor):
					t.Fatal("server did not close the idle connection")
				}
			}
			var body io.Reader
			if tc.body != nil {
				body = tc.body("payload")
			}
			resp, err := tr.RoundTrip(mustReq(t, context.Background(), tc.method, rs.url(), body))
			if tc.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("no error; the request must not be sent twice")
				}
				var de DialError
				if errors.As(err, &de) {
					t.Errorf("error %v claims a dial failure", err)
				}
			} else {
				if err != nil {
					t.Fatalf("request after stale connection: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := tc.method
				if tc.body != nil {
					want += "payload"
				}
				if string(b) != want {
					t.Errorf("body %q, want %q", b, want)
				}
			}
			if got := processed.Load(); got != tc.processed {
				t.Errorf("server processed %d requests, want %d", got, tc.processed)
			}
		})
	}
}

func TestIdleExpiry(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "x") // a body keeps the connection busy until read
	}))
	tr := New(Config{IdleTimeout: time.Minute})
	defer tr.Close()
	var clock atomic.Int64 // seconds; the reaper goroutine may read it
	clock.Store(1000)
	tr.now = func() time.Time { return time.Unix(clock.Load(), 0) }

	// Three connections idle since 1000s, 1030s and 1050s.
	var resps []*http.Response
	for range 3 {
		resp, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", srv.URL, nil))
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, resp)
	}
	for i, resp := range resps {
		clock.Store(1000 + []int64{0, 30, 50}[i])
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	steps := []struct {
		at       int64
		wantIdle int
	}{
		{1059, 3}, // none has idled a minute yet
		{1060, 2}, // the first has
		{1100, 1},
		{1200, 0},
	}
	for _, s := range steps {
		tr.reap(time.Unix(s.at, 0))
		if got := tr.idleCount(); got != s.wantIdle {
			t.Fatalf("at %ds: idle = %d, want %d", s.at, got, s.wantIdle)
		}
	}
	eventually(t, "server to see every connection closed", func() bool { return srv.open.Load() == 0 })

	// Lazy expiry: a connection found expired on checkout is not used.
	get(t, tr, srv.URL)
	clock.Add(120)
	get(t, tr, srv.URL)
	if n := srv.accepted.Load(); n != 5 {
		t.Errorf("accepted = %d, want 5 (the expired idle one replaced)", n)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tr := New(Config{})
	for range 3 {
		get(t, tr, srv.URL)
	}
	tr.mu.Lock()
	r := tr.reaper
	tr.mu.Unlock()
	if r == nil {
		t.Fatal("no reaper after pooling a connection")
	}
	held, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", srv.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	select {
	case <-r.done:
	default:
		t.Error("reaper goroutine still running after Close")
	}
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle connections after Close", n)
	}
	// A response in flight at Close gives its connection back to no pool.
	io.Copy(io.Discard, held.Body)
	held.Body.Close()
	get(t, tr, srv.URL) // still usable, unpooled
	if n := tr.idleCount(); n != 0 {
		t.Errorf("%d idle connections after use past Close", n)
	}
	tr.mu.Lock()
	restarted := tr.reaper != nil
	tr.mu.Unlock()
	if restarted {
		t.Error("reaper restarted after Close")
	}
	eventually(t, "server to see every connection closed", func() bool { return srv.open.Load() == 0 })
}
