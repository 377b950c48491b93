package caddytest

import (
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Retry replay buffers are bounded in total, not only per request: 40
// concurrent 8 MiB PUTs, each small enough to be replayable on its own,
// held 378 MB before; past the total cap a request is simply not
// replayable, and still proxied.
func TestReplayBuffersBoundedInTotal(t *testing.T) {
	const size, clients = 8 << 20, 40
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // hold the request while others arrive
		n, _ := io.Copy(io.Discard, r.Body)
		if n != size {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	start(t, map[string]any{
		"backends": []map[string]any{{"url": b.URL}},
		"retries":  map[string]any{"count": 1, "max_body_bytes": size},
	})
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
	}()
	var wg sync.WaitGroup
	codes := make([]int, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPut, proxyURL+"/up", io.LimitReader(zeros{}, size))
			req.ContentLength = size
			resp, err := newClient().Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	for i, c := range codes {
		if c != 200 {
			t.Errorf("PUT %d: status %d, want 200", i, c)
		}
	}
	grown := int64(peak) - int64(base.HeapInuse)
	t.Logf("heap in use grew by %d MiB at its peak", grown>>20)
	if grown > 128<<20 {
		t.Errorf("replay buffers of %d concurrent %d MiB PUTs grew the heap by %d MiB; the total cap is 64 MiB",
			clients, size>>20, grown>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
