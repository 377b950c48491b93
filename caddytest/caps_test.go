package caddytest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// peakBackend is a backend that records its peak concurrency; while held
// is open, requests wait in it.
type peakBackend struct {
	*backend
	now, peak atomic.Int64
	held      atomic.Pointer[chan struct{}] // closed: requests answer at once
	in        chan struct{}                 // one value per request that arrived
}

func newPeakBackend(t *testing.T, name string, work time.Duration) *peakBackend {
	pb := &peakBackend{in: make(chan struct{}, 1000)}
	open := make(chan struct{})
	close(open)
	pb.held.Store(&open)
	pb.backend = newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		n := pb.now.Add(1)
		defer pb.now.Add(-1)
		for old := pb.peak.Load(); n > old && !pb.peak.CompareAndSwap(old, n); old = pb.peak.Load() {
		}
		select {
		case pb.in <- struct{}{}:
		default:
		}
		<-*pb.held.Load()
		time.Sleep(work) // the backend's work: concurrency to measure
		io.WriteString(w, name)
	})
	return pb
}

// hold makes requests wait in the backend until the returned func runs.
func (pb *peakBackend) hold() func() {
	ch := make(chan struct{})
	pb.held.Store(&ch)
	return sync.OnceFunc(func() { close(ch) })
}

// occupy sends one request through the proxy that waits in the backend
// (hold it first); its status arrives on the channel.
func (pb *peakBackend) occupy(t *testing.T, c *http.Client) chan int {
	t.Helper()
	done := make(chan int, 1)
	go func() { code, _ := get(t, c, "/"); done <- code }()
	pb.arrived(t, 1)
	return done
}

// arrived waits for n requests to be in the backend.
func (pb *peakBackend) arrived(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-pb.in:
		case <-time.After(10 * time.Second):
			t.Fatal("the request never reached the backend")
		}
	}
}

type capsStatus struct {
	Routes []struct {
		Route    string `json:"route"`
		Backends []struct {
			URL         string `json:"url"`
			InFlight    int64  `json:"in_flight"`
			MaxRequests int64  `json:"max_requests"`
		} `json:"backends"`
		Queue *struct {
			Length, Size                         int64
			Queued, TimedOut, Canceled, Rejected uint64
		} `json:"queue"`
	} `json:"routes"`
}

// queueLength is the default route's queue length in the status API.
func queueLength(t *testing.T) int64 {
	t.Helper()
	var doc capsStatus
	if err := json.Unmarshal(adminGet(t, "/smartproxy/status"), &doc); err != nil {
		t.Fatal(err)
	}
	for _, rt := range doc.Routes {
		if rt.Route == "default" && rt.Queue != nil {
			return rt.Queue.Length
		}
	}
	t.Fatal("no queue in the status document")
	return 0
}

// waitQueued polls the status API until n requests wait in the queue.
func waitQueued(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for queueLength(t) != n {
		if time.Now().After(deadline) {
			t.Fatalf("queue length never reached %d", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMaxRequestsPeakConcurrency: 200 requests, 50 at a time, to a
// backend capped at 5: it never sees more than 5 at once, and every
// request is answered (they wait in the queue).
func TestMaxRequestsPeakConcurrency(t *testing.T) {
	pb := newPeakBackend(t, "capped", 2*time.Millisecond)
	start(t, map[string]any{
		"backends":      []map[string]any{{"url": pb.URL, "max_requests": 5}},
		"load_balancer": map[string]any{"queue": map[string]any{"size": 1000, "timeout": "10s"}},
	})
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 50}}
	var wg sync.WaitGroup
	var failed atomic.Int64
	jobs := make(chan struct{}, 200)
	for range 200 {
		jobs <- struct{}{}
	}
	close(jobs)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				resp, err := c.Get(proxyURL + "/")
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 || pb.hits.Load() != 200 {
		t.Fatalf("%d failed, backend saw %d of 200", failed.Load(), pb.hits.Load())
	}
	if p := pb.peak.Load(); p > 5 || p < 2 {
		t.Fatalf("peak concurrency %d: want at most the cap 5 (and some concurrency)", p)
	}
	var doc capsStatus
	json.Unmarshal(adminGet(t, "/smartproxy/status"), &doc)
	q := doc.Routes[0].Queue
	if q == nil || q.Queued == 0 || q.Length != 0 || doc.Routes[0].Backends[0].MaxRequests != 5 {
		t.Fatalf("status: %+v", doc.Routes[0])
	}
	// The same figures in a real /metrics scrape.
	m := scrape(t)
	route := `{route="sp|*|default"}`
	if m["caddy_smartproxy_queued_total"+route] != float64(q.Queued) || m["caddy_smartproxy_queue_length"+route] != 0 ||
		m[`caddy_smartproxy_backend_max_requests{backend="`+pb.URL+`",route="sp|*|default"}`] != 5 ||
		!hasMetric(m, "caddy_smartproxy_queue_wait_seconds_total") || !hasMetric(m, "caddy_smartproxy_queue_rejected_total") {
		t.Fatalf("metrics: queued %v (status %d), length %v, max_requests %v", m["caddy_smartproxy_queued_total"+route], q.Queued,
			m["caddy_smartproxy_queue_length"+route], m[`caddy_smartproxy_backend_max_requests{backend="`+pb.URL+`",route="sp|*|default"}`])
	}
}

func TestMaxRequestsQueueFullAndTimeout(t *testing.T) {
	pb := newPeakBackend(t, "capped", 0)
	start(t, map[string]any{
		"backends":      []map[string]any{{"url": pb.URL}},
		"load_balancer": map[string]any{"max_requests": 1, "queue": map[string]any{"size": 1, "timeout": "2s"}},
	})
	release := pb.hold()
	defer release()
	c := newClient()
	first := pb.occupy(t, c)

	// The second waits in the queue; the third finds it full.
	second := make(chan int, 1)
	go func() { code, _ := get(t, c, "/"); second <- code }()
	waitQueued(t, 1)
	resp, err := c.Get(proxyURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("queue full: %d, Retry-After %q; want 503 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The second times out: the first still holds the only slot.
	if code := <-second; code != 503 {
		t.Fatalf("queued past the timeout: %d, want 503", code)
	}
	release()
	if code := <-first; code != 200 {
		t.Fatalf("first: %d", code)
	}
	if code, body := get(t, c, "/"); code != 200 || body != "capped" {
		t.Fatalf("after the slot freed: %d %q", code, body)
	}
	if pb.peak.Load() != 1 {
		t.Fatalf("peak %d over the cap 1", pb.peak.Load())
	}
}

// TestMaxRequestsClientCancelFreesPlace: a queued client that goes away
// leaves the queue, so the next one gets its place, and then the slot.
func TestMaxRequestsClientCancelFreesPlace(t *testing.T) {
	pb := newPeakBackend(t, "capped", 0)
	start(t, map[string]any{
		"backends":      []map[string]any{{"url": pb.URL, "max_requests": 1}},
		"load_balancer": map[string]any{"queue": map[string]any{"size": 1, "timeout": "10s"}},
	})
	release := pb.hold()
	defer release()
	c := newClient()
	first := pb.occupy(t, c)

	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", proxyURL+"/", nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		gone <- err
	}()
	waitQueued(t, 1)
	cancel()
	if err := <-gone; err == nil {
		t.Fatal("the canceled request was answered")
	}
	waitQueued(t, 0)
	third := make(chan string, 1)
	go func() { _, body := get(t, c, "/"); third <- body }()
	waitQueued(t, 1) // the place the canceled client left, not a 503
	release()
	if body := <-third; body != "capped" {
		t.Fatalf("third: %q", body)
	}
	<-first
	if pb.hits.Load() != 2 {
		t.Fatalf("backend saw %d requests, want 2 (the canceled one never reached it)", pb.hits.Load())
	}
}

// TestMaxRequestsSharedAcrossReload: requests of the config being replaced
// count against the cap in the new one.
func TestMaxRequestsSharedAcrossReload(t *testing.T) {
	pb := newPeakBackend(t, "capped", 0)
	marker := newBackend(t, "new", nil)
	handler := func(routes []map[string]any) string {
		h, _ := json.Marshal(map[string]any{
			"handler":  "smartproxy",
			"backends": []map[string]any{{"url": pb.URL, "max_requests": 2}},
			"routes":   routes,
		})
		return string(h)
	}
	newTesterJSON(t, handler(nil))
	release := pb.hold()
	defer release()
	c := newClient()
	held := []chan int{pb.occupy(t, c), pb.occupy(t, c)}
	loaded := make(chan error, 1)
	go func() {
		resp, err := http.Post("http://localhost:2999/load", "application/json",
			strings.NewReader(serverJSON(handler([]map[string]any{{"path": "/new", "backends": []map[string]any{{"url": marker.URL}}}}))))
		if err == nil {
			resp.Body.Close()
		}
		loaded <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, body := get(t, newClient(), "/new"); body == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new config never served")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := get(t, c, "/"); code != 503 {
		t.Fatalf("the new config sent a third request to a backend at its cap 2 (held by the old config): %d", code)
	}
	release()
	for _, done := range held {
		if code := <-done; code != 200 {
			t.Fatalf("held request: %d", code)
		}
	}
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, c, "/"); code != 200 {
		t.Fatalf("after the old requests finished: %d", code)
	}
	if pb.peak.Load() != 2 {
		t.Fatalf("peak %d, cap 2", pb.peak.Load())
	}
}

// TestMaxRequestsDiscovered: a backend found by DNS discovery has the
// load_balancer.max_requests cap.
func TestMaxRequestsDiscovered(t *testing.T) {
	dns := newDNSServer(t)
	bs, port := samePortBackends(t, 1)
	dns.setA("capped.test", bs[0].ip)
	start(t, map[string]any{
		"discovery": map[string]any{"dns": map[string]any{
			"name": "capped.test", "port": port, "refresh": "1s", "timeout": "500ms", "resolvers": []string{dns.addr}}},
		"load_balancer": map[string]any{"max_requests": 1},
	})
	c := newClient()
	if !eventually(10*time.Second, func() bool { code, _ := get(t, c, "/"); return code == 200 }) {
		t.Fatal("the discovered backend never served")
	}
	done := make(chan int, 1)
	defer bs[0].releaseAll() // before Caddy's cleanup, which waits for the request
	go func() { code, _ := get(t, c, "/slow"); done <- code }()
	if !eventually(10*time.Second, func() bool { return bs[0].slow.Load() == 1 }) {
		t.Fatal("the slow request never arrived")
	}
	if code, _ := get(t, c, "/"); code != 503 {
		t.Fatalf("a second request to a discovered backend at its cap 1: %d, want 503", code)
	}
	bs[0].releaseAll()
	if code := <-done; code != 200 {
		t.Fatalf("slow request: %d", code)
	}
	if code, _ := get(t, c, "/"); code != 200 {
		t.Fatalf("after the slot freed: %d", code)
	}
}
