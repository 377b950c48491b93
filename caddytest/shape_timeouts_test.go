package caddytest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Per-route timeouts and retry rules (issue 17, parts 5 and 6), through a
// real Caddy to real loopback backends.

// TestTimeoutsReadCutsASilentBody: a backend sends its headers and part
// of its body, then goes silent for 3 s. With timeouts.read 300ms the
// client's response is cut (not passed off as complete) well before the
// backend would have finished; another route without it waits the
// backend out and gets the whole body.
func TestTimeoutsReadCutsASilentBody(t *testing.T) {
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(200)
		io.WriteString(w, "hello")
		w.(http.Flusher).Flush()
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "world")
	})
	start(t, map[string]any{
		"backends": backends(slow),
		"timeouts": map[string]any{"read": "300ms"},
		"routes":   []map[string]any{{"path": "/patient", "timeouts": map[string]any{"response_header": "5s"}}},
	})
	client := &http.Client{Timeout: 10 * time.Second}
	begin := time.Now()
	var body []byte
	resp, err := client.Get(proxyURL + "/")
	if err == nil {
		// The status line may be out before the cut, or not (the
		// server buffers small writes).
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	took := time.Since(begin)
	if err == nil {
		t.Fatalf("read timeout: got the whole body %q after %v, want it cut", body, took)
	}
	if took > 2*time.Second {
		t.Fatalf("read timeout 300ms: the body was cut only after %v", took)
	}
	t.Logf("cut after %v with %q: %v", took, body, err)
	begin = time.Now()
	code, got := get(t, client, "/patient")
	if code != 200 || got != "helloworld" || time.Since(begin) < 2500*time.Millisecond {
		t.Fatalf("route without a read timeout: %d %q after %v, want the whole body after about 3s", code, got, time.Since(begin))
	}
}

// TestTimeoutsRequestBody: a client that sends one byte of a 10-byte body
// and stalls gets 408 after timeouts.request_body, and the backend is not
// charged for it (its breaker stays closed).
func TestTimeoutsRequestBody(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	start(t, map[string]any{
		"backends":        backends(b),
		"timeouts":        map[string]any{"request_body": "500ms"},
		"circuit_breaker": map[string]any{"failure_threshold": 1, "base_backoff": "1m"},
	})
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	begin := time.Now()
	fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nA")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer after %v: %v", time.Since(begin), err)
	}
	resp.Body.Close()
	took := time.Since(begin)
	if resp.StatusCode != http.StatusRequestTimeout || took < 400*time.Millisecond || took > 3*time.Second {
		t.Fatalf("stalled body: %d after %v, want 408 after about 500ms", resp.StatusCode, took)
	}
	// A body that arrives in time, on a fresh connection, still works,
	// and the breaker did not see the stalled one.
	resp2, err := http.Post(proxyURL+"/upload", "text/plain", strings.NewReader("0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if resp2.StatusCode != 200 || string(got) != "ok" {
		t.Fatalf("a prompt body after the stalled one: %d %q (the breaker must not count a client's stall)", resp2.StatusCode, got)
	}
	if st := getStatus(t); st.Routes[0].Backends[0].Failures != 0 {
		t.Fatalf("the stalled upload counted against the backend: %+v", st.Routes[0].Backends[0])
	}
}

// TestTimeoutsRefusedBelowAMillisecond: a JSON number counts nanoseconds,
// so "dial": 30 is refused with the key and a hint, and the running
// config keeps serving.
func TestTimeoutsRefusedBelowAMillisecond(t *testing.T) {
	msg := loadError(t, serverJSON(`{"handler":"smartproxy","backends":[{"url":"http://127.0.0.1:1"}],"timeouts":{"dial":30}}`))
	for _, want := range []string{"timeouts.dial", "30ns", `"30s"`} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not name %q", msg, want)
		}
	}
}

// TestRetryOnStatus: with on_status [500] a GET that one backend answers
// 500 is retried on the other and always succeeds; with the default
// (502, 503, 504) the 500 goes to the client.
func TestRetryOnStatus(t *testing.T) {
	failing := newBackend(t, "failing", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	good := newBackend(t, "good", nil)
	start(t, map[string]any{
		"backends": backends(failing, good),
		"retries":  map[string]any{"count": 1, "on_status": []int{500}},
		"routes":   []map[string]any{{"path": "/default", "retries": map[string]any{"count": 1}}},
	})
	c := newClient()
	for i := range 6 {
		if code, body := get(t, c, fmt.Sprintf("/?n=%d", i)); code != 200 || body != "good" {
			t.Fatalf("on_status [500], request %d: %d %q, want 200 from the good backend", i, code, body)
		}
	}
	fives := 0
	for i := range 6 {
		if code, _ := get(t, c, fmt.Sprintf("/default?n=%d", i)); code == 500 {
			fives++
		}
	}
	if fives == 0 {
		t.Fatal("default on_status: no 500 reached the client; a 500 is an answer, not retried by default")
	}
	if failing.hits.Load() < 6 {
		t.Fatalf("the failing backend saw %d requests; round robin should have sent it about half", failing.hits.Load())
	}
}

// TestRetryMethods: a POST is resent after a 503 only when retries.methods
// lists POST (or it carries an Idempotency-Key); by default it gets the
// 503 and is never sent twice.
func TestRetryMethods(t *testing.T) {
	var seen atomic.Int64
	unavailable := newBackend(t, "unavailable", func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.WriteHeader(503)
	})
	good := newBackend(t, "good", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "good:"+string(b))
	})
	start(t, map[string]any{
		"backends":      backends(unavailable, good),
		"load_balancer": map[string]any{"algorithm": "header_hash", "hash_header": "X-Pick"},
		"routes":        []map[string]any{{"path": "/listed", "retries": map[string]any{"count": 1, "methods": []string{"POST"}}}},
	})
	post := func(path, key string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", proxyURL+path, strings.NewReader("payload"))
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := newClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Many requests, so both backends are picked first some of the time.
	var sawDefault503 bool
	for i := range 10 {
		if code, body := post("/listed", ""); code != 200 || body != "good:payload" {
			t.Fatalf("methods [POST], request %d: %d %q, want 200 with the body replayed", i, code, body)
		}
		if code, _ := post("/", ""); code == 503 {
			sawDefault503 = true
		} else if code != 200 {
			t.Fatalf("default methods, POST: %d", code)
		}
		if code, body := post("/", fmt.Sprintf("key-%d", i)); code != 200 || body != "good:payload" {
			t.Fatalf("POST with an Idempotency-Key: %d %q, want it retried", code, body)
		}
	}
	if !sawDefault503 {
		t.Fatal("by default a POST answered 503 was retried; it must not be sent twice")
	}
}

// TestRetryDialErrorIsFree: the README's promise. A try that reached no
// backend (connection refused) moves on at once for any request, is not
// counted against retries.count (0 here) and waits no backoff (2s here).
func TestRetryDialErrorIsFree(t *testing.T) {
	good := newBackend(t, "good", nil)
	start(t, map[string]any{
		"backends": []map[string]any{{"url": deadURL(t)}, {"url": good.URL}},
		"retries":  map[string]any{"count": 0, "backoff": "2s"},
	})
	before := sample(t, scrape(t), "caddy_smartproxy_retries_total", `route="sp|*|default"`)
	c := newClient()
	for i := range 6 {
		begin := time.Now()
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/?n=%d", proxyURL, i), strings.NewReader("x"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "good" {
			t.Fatalf("POST %d with a dead backend first half the time: %d %q, want 200 (nothing was sent to the dead one)", i, resp.StatusCode, body)
		}
		if took := time.Since(begin); took > time.Second {
			t.Fatalf("POST %d took %v: a dial error must not wait the backoff", i, took)
		}
	}
	if got := sample(t, scrape(t), "caddy_smartproxy_retries_total", `route="sp|*|default"`); got != before {
		t.Fatalf("retries_total went from %v to %v: moving past a dead backend is not a retry", before, got)
	}
}
