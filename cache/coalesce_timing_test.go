package cache

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
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

// TestCoalesceTimings replays the reported timings with real servers and
// clients on loopback: the backend sends its headers at once and its body
// after hold. Requests that cannot share the response must not take twice
// as long (released at the headers, not after the body), and the first
// byte of a no-store stream must not wait for CoalesceTimeout. Bounds are
// generous (1.75× hold), since the machine may be loaded; the old
// behaviour took 2× hold and CoalesceTimeout.
func TestCoalesceTimings(t *testing.T) {
	if testing.Short() {
		t.Skip("real timings")
	}
	const hold = 400 * time.Millisecond
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/private":
			w.Header().Set("Cache-Control", "private")
		case "/stream":
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Content-Type", "text/event-stream")
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("data: first\n\n"))
		w.(http.Flusher).Flush()
		time.Sleep(hold)
		_, _ = w.Write([]byte("data: last\n\n"))
	}))
	defer backend.Close()
	c, _ := newTestCache(t, Settings{CoalesceTimeout: 5 * time.Second, Now: time.Now})
	fetch := proxyTo(backend.URL)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = c.Serve(w, r, fetch)
	}))
	defer front.Close()

	for _, path := range []string{"/private", "/stream"} {
		t.Run(path, func(t *testing.T) {
			const n = 5
			var wg sync.WaitGroup
			firstByte := make([]time.Duration, n)
			total := make([]time.Duration, n)
			begin := time.Now()
			for i := range n {
				wg.Go(func() {
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
					firstByte[i] = time.Since(begin)
					_, _ = io.Copy(io.Discard, br)
					total[i] = time.Since(begin)
				})
			}
			wg.Wait()
			for i := range n {
				if firstByte[i] > hold*3/4 || total[i] > hold*7/4 {
					t.Errorf("request %d: first byte %s, done %s (hold %s)", i, firstByte[i], total[i], hold)
				}
			}
		})
	}
}
