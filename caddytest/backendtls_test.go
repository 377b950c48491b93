package caddytest

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// https backends: the TLS handshake is bounded like the dial.

// TestTLSHandshakeTimeout: the backend accepts TCP and never answers the
// handshake. The request fails within about the dial timeout (the route's
// 2 s timeout), the failure counts against the backend, and the proxy lets
// go of the connection.
func TestTLSHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var open, accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			open.Add(1)
			go func() {
				defer open.Add(-1)
				defer c.Close()
				io.Copy(io.Discard, c) // the ClientHello, then nothing until the proxy hangs up
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	url := "https://" + ln.Addr().String()
	start(t, map[string]any{
		"timeout":         "2s",
		"backends":        []map[string]any{{"url": url}},
		"circuit_breaker": map[string]any{"failure_threshold": 1, "base_backoff": "1m"},
	})
	client := &http.Client{Timeout: 15 * time.Second}
	begin := time.Now()
	resp, err := client.Get(proxyURL + "/")
	took := time.Since(begin)
	if err != nil {
		t.Fatalf("no answer after %v: %v", took, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout && resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 504 or 502", resp.StatusCode)
	}
	if took < 1500*time.Millisecond || took > 4*time.Second {
		t.Fatalf("answered %d after %v, want about the 2 s dial timeout", resp.StatusCode, took)
	}
	if accepted.Load() == 0 {
		t.Fatal("the proxy never connected to the backend")
	}
	if !eventually(3*time.Second, func() bool { return open.Load() == 0 }) {
		t.Fatalf("%d backend connections still open after the failed handshake", open.Load())
	}
	st := getStatus(t)
	if len(st.Routes) != 1 || len(st.Routes[0].Backends) != 1 {
		t.Fatalf("status: %+v", st)
	}
	b := st.Routes[0].Backends[0]
	if b.Failures != 1 || b.Breaker == nil || b.Breaker.State != "open" {
		t.Fatalf("the failed handshake did not count against the backend: failures %d, breaker %+v", b.Failures, b.Breaker)
	}
	t.Logf("%d after %v; backend failures %d, breaker %s", resp.StatusCode, took, b.Failures, b.Breaker.State)
}
