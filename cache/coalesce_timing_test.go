package cache

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxyTo returns a fetch that forwards to a real backend over loopback
// and streams its answer back, flushing every chunk, as a proxy does.
func proxyTo(backend string) FetchFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := http.NewRequestWithContext(r.Context(), r.Method, backend+r.URL.RequestURI(), nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return nil
				}
				_ = rc.Flush()
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}

// TestCoalesceRealServers replays the reported cases with real servers
// and clients on loopback: five concurrent clients of a private endpoint,
// and of a no-store event stream, whose backend sends its headers and a
// first event at once and holds the rest. Every client must have its
// first byte while the backend still holds the first response's body:
// the backend waits for that (up to a generous bound, so the old
// behaviour, where the others queued behind the whole first body, fails
// instead of hanging). No assertion is on elapsed time.
func TestCoalesceRealServers(t *testing.T) {
	const n = 5
	const bound = 5 * time.Second
	for _, path := range []string{"/private", "/stream"} {
		t.Run(path, func(t *testing.T) {
			var firsts sync.WaitGroup
			firsts.Add(n)
			allFirst := make(chan struct{})
			var heldOut atomic.Bool
			go func() { firsts.Wait(); close(allFirst) }()
			backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/private" {
					w.Header().Set("Cache-Control", "private")
				} else {
					w.Header().Set("Cache-Control", "no-store")
					w.Header().Set("Content-Type", "text/event-stream")
				}
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte("data: first\n\n"))
				w.(http.Flusher).Flush()
				select { // hold the body until every client has begun
				case <-allFirst:
				case <-time.After(bound):
					heldOut.Store(true)
				}
				_, _ = w.Write([]byte("data: last\n\n"))
			}))
			defer backend.Close()
			c, _ := newTestCache(t, Settings{CoalesceTimeout: time.Minute, Now: time.Now})
			fetch := proxyTo(backend.URL)
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = c.Serve(w, r, fetch)
			}))
			defer front.Close()

			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					var once sync.Once
					defer once.Do(firsts.Done)
					resp, err := http.Get(front.URL + path)
					if err != nil {
						t.Error(err)
						return
					}
					defer resp.Body.Close()
					br := bufio.NewReader(resp.Body)
					if _, err := br.ReadByte(); err != nil {
						t.Error(err)
						return
					}
					once.Do(firsts.Done)
					_, _ = io.Copy(io.Discard, br)
				})
			}
			wg.Wait()
			if heldOut.Load() {
				t.Errorf("clients got their first byte only after the first body was held %s", bound)
			}
		})
	}
}
