package caddytest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Traffic mirroring (issue 17, part 7): copies go to a real shadow backend
// in the background; the client sees only the primary.

// shadow is a mirror backend that records what it got and answers after
// delay (or when the proxy cancels the copy).
type shadow struct {
	*backend
	mu        sync.Mutex
	got       []string // method path mirror-header body
	cancelled atomic.Int64
}

func newShadow(t *testing.T, delay time.Duration) *shadow {
	s := &shadow{}
	s.backend = newBackend(t, "shadow", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, fmt.Sprintf("%s %s %s %s", r.Method, r.URL.Path, r.Header.Get("X-Smartproxy-Mirror"), body))
		s.mu.Unlock()
		select {
		case <-time.After(delay):
			io.WriteString(w, "shadow")
		case <-r.Context().Done():
			s.cancelled.Add(1)
		}
	})
	return s
}

func (s *shadow) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func mirrorCount(t *testing.T, result string) float64 {
	t.Helper()
	for k, v := range scrape(t) {
		if strings.HasPrefix(k, "caddy_smartproxy_mirror_requests_total{") && strings.Contains(k, `route="sp|*|default"`) &&
			strings.Contains(k, `result="`+result+`"`) {
			return v
		}
	}
	return 0
}

// TestMirrorDoesNotDelayTheClient: the shadow takes 2 s to answer; every
// client request still gets the primary's answer at once, and the shadow
// gets each copy with its body and X-Smartproxy-Mirror: 1.
func TestMirrorDoesNotDelayTheClient(t *testing.T) {
	primary := newBackend(t, "primary", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "primary:"+string(b))
	})
	sh := newShadow(t, 2*time.Second)
	start(t, map[string]any{
		"backends": backends(primary),
		"mirror":   map[string]any{"backends": backends(sh.backend), "max_body_bytes": 16, "timeout": "5s"},
	})
	sent0, large0 := mirrorCount(t, "sent"), mirrorCount(t, "too_large")
	c := newClient()
	post := func(path, body string, chunked bool) (int, string, time.Duration) {
		t.Helper()
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(strings.NewReader(body)) // length unknown: sent chunked
		}
		req, _ := http.NewRequest("POST", proxyURL+path, rd)
		begin := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b), time.Since(begin)
	}
	for i := range 4 {
		code, body, took := post(fmt.Sprintf("/m%d", i), "small", i%2 == 1)
		if code != 200 || body != "primary:small" {
			t.Fatalf("request %d: %d %q, want the primary's answer", i, code, body)
		}
		if took > 500*time.Millisecond {
			t.Fatalf("request %d took %v: the client waited for the 2 s mirror", i, took)
		}
	}
	// Bodies over max_body_bytes are not mirrored, whether their length
	// is announced or not; the primary gets them whole.
	big := strings.Repeat("x", 100)
	for _, chunked := range []bool{false, true} {
		if code, body, _ := post("/big", big, chunked); code != 200 || body != "primary:"+big {
			t.Fatalf("big body (chunked %v): %d, primary got %d bytes, want all 100", chunked, code, len(body)-len("primary:"))
		}
	}
	if !eventually(3*time.Second, func() bool { return len(sh.requests()) >= 4 }) {
		t.Fatalf("the shadow got %d copies, want 4: %q", len(sh.requests()), sh.requests())
	}
	got := sh.requests()
	for i := range 4 {
		want := fmt.Sprintf("POST /m%d 1 small", i)
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if !found {
			t.Errorf("no copy %q among %q", want, got)
		}
	}
	for _, g := range got {
		if strings.Contains(g, "/big") {
			t.Errorf("a body over max_body_bytes was mirrored: %q", g)
		}
	}
	if s, l := mirrorCount(t, "sent")-sent0, mirrorCount(t, "too_large")-large0; s != 4 || l != 2 {
		t.Errorf("mirror metrics: sent +%v too_large +%v, want +4 and +2", s, l)
	}
}

// TestMirrorBoundsAndCleanup: max_in_flight drops copies over it (counted),
// percent spreads copies evenly, a failing mirror changes nothing for the
// client, and a reload cancels the copies under way.
func TestMirrorBoundsAndCleanup(t *testing.T) {
	primary := newBackend(t, "primary", nil)
	sh := newShadow(t, 10*time.Second)
	start(t, map[string]any{
		"backends": backends(primary),
		"mirror":   map[string]any{"backends": backends(sh.backend), "max_in_flight": 2, "timeout": "30s"},
		"routes": []map[string]any{
			{"path": "/half", "mirror": map[string]any{"backends": backends(sh.backend), "percent": 50, "timeout": "30s"}},
			{"path": "/dead", "mirror": map[string]any{"backends": []map[string]any{{"url": deadURL(t)}}}},
		},
	})
	dropped0 := mirrorCount(t, "dropped")
	c := newClient()
	for i := range 6 {
		if code, body := get(t, c, fmt.Sprintf("/?n=%d", i)); code != 200 || body != "primary" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if d := mirrorCount(t, "dropped") - dropped0; d != 4 {
		t.Errorf("dropped +%v with 2 copies in flight of 6, want +4", d)
	}
	for i := range 10 {
		get(t, c, fmt.Sprintf("/half?n=%d", i))
		if code, body := get(t, c, fmt.Sprintf("/dead?n=%d", i)); code != 200 || body != "primary" {
			t.Fatalf("with a dead mirror: %d %q", code, body)
		}
	}
	if !eventually(3*time.Second, func() bool { return len(sh.requests()) >= 2+5 }) {
		t.Fatalf("the shadow got %d copies, want 2 + 5 (percent 50 of 10)", len(sh.requests()))
	}
	half := 0
	for _, g := range sh.requests() {
		if strings.Contains(g, "/half") {
			half++
		}
	}
	if half != 5 {
		t.Errorf("percent 50 of 10 requests: %d copies, want 5", half)
	}
	// Seven copies are still under way (the shadow takes 10 s, their
	// timeout is 30 s): a reload's Cleanup cancels them all.
	if n := sh.cancelled.Load(); n != 0 {
		t.Fatalf("%d copies cancelled before the reload", n)
	}
	start(t, map[string]any{"backends": backends(primary)})
	if !eventually(2*time.Second, func() bool { return sh.cancelled.Load() == 7 }) {
		t.Fatalf("after the reload %d copies were cancelled, want the 7 under way", sh.cancelled.Load())
	}
}
