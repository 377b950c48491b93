package caddytest

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// A request that a breaker turns away gets 503 whether the breaker is open
// or half-open with its probe taken (before, the half-open refusal came out
// as 502, as if the backend had answered badly).
func TestBreakerRefusalIs503OpenAndHalfOpen(t *testing.T) {
	var n atomic.Int64
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError) // trips the breaker
			return
		}
		time.Sleep(800 * time.Millisecond) // the half-open probe takes its time
		w.Write([]byte("ok"))
	})
	start(t, map[string]any{
		"backends":        []map[string]any{{"url": b.URL}},
		"retries":         map[string]any{"count": 0},
		"circuit_breaker": map[string]any{"failure_threshold": 1, "base_backoff": "300ms", "jitter": 0.01},
	})
	c := newClient()
	if code, _ := get(t, c, "/"); code != http.StatusInternalServerError {
		t.Fatalf("first request: %d, want the backend's 500", code)
	}
	if code, _ := get(t, c, "/"); code != http.StatusServiceUnavailable {
		t.Fatalf("breaker open: %d, want 503", code)
	}
	time.Sleep(450 * time.Millisecond) // past the backoff: half-open
	probe := make(chan int, 1)
	go func() {
		resp, err := newClient().Get(proxyURL + "/probe")
		if err != nil {
			probe <- 0
			return
		}
		resp.Body.Close()
		probe <- resp.StatusCode
	}()
	time.Sleep(200 * time.Millisecond) // the probe is in flight
	if code, _ := get(t, c, "/"); code != http.StatusServiceUnavailable {
		t.Errorf("half-open with its probe taken: %d, want 503", code)
	}
	select {
	case code := <-probe:
		if code != 200 {
			t.Errorf("the probe: %d, want 200", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the probe did not finish")
	}
	if code, _ := get(t, c, "/"); code != 200 {
		t.Errorf("after a good probe the breaker closes: %d, want 200", code)
	}
}
