package caddytest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fakeResponse is a complete response a hostile backend smuggles into a
// pooled connection, hoping it is taken for the answer to the next
// request on it, someone else's.
const fakeResponse = "HTTP/1.1 200 OK\r\nSet-Cookie: session=attacker\r\nContent-Length: 8\r\n\r\nINJECTED"

// fakeCacheable is the same for a cached route: no Set-Cookie (which is
// never stored) and a long freshness, so that a victim's URL would keep it.
const fakeCacheable = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 8\r\n\r\nINJECTED"

// desyncCase is one way of leaving bytes on a backend connection past the
// end of a response.
type desyncCase struct {
	name   string
	method string
	reply  func(fake string) *advReply
}

// heldIdle, as a reply's IdleGate, holds its Idle bytes until the proxy
// is done with the exchange (runDesync opens a gate of its own in its
// place): they arrive on a connection idle in the proxy's pool.
var heldIdle = make(chan struct{})

var desyncCases = []desyncCase{
	{"head with a body", http.MethodHead, func(fake string) *advReply {
		return &advReply{Raw: fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(fake), fake)}
	}},
	{"body longer than content-length", http.MethodGet, func(fake string) *advReply {
		return &advReply{Raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + fake}
	}},
	{"two responses for one request", http.MethodGet, func(fake string) *advReply {
		return &advReply{Raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", Idle: fake}
	}},
	{"204 with a body", http.MethodGet, func(fake string) *advReply {
		return &advReply{Raw: "HTTP/1.1 204 No Content\r\n\r\n" + fake}
	}},
	{"304 with a body", http.MethodGet, func(fake string) *advReply {
		return &advReply{Raw: "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n" + fake}
	}},
	{"bytes after the chunked body", http.MethodGet, func(fake string) *advReply {
		return &advReply{Raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + fake}
	}},
	{"bytes on the idle connection", http.MethodGet, func(fake string) *advReply {
		return &advReply{Raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", Idle: fake, IdleGate: heldIdle}
	}},
	{"content-length and transfer-encoding", http.MethodGet, func(fake string) *advReply {
		// Chunked framing ends the body at "0\r\n\r\n", before the fake;
		// Content-Length framing takes the fake as body.
		return &advReply{Raw: fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s",
			len("0\r\n\r\n")+len(fake), fake)}
	}},
	{"differing content-lengths", http.MethodGet, func(fake string) *advReply {
		return &advReply{Raw: fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: %d\r\n\r\nhello%s", 5+len(fake), fake)}
	}},
}

// victims are the paths ordinary clients ask for after a hostile exchange.
var victims = []string{"/alice", "/bob", "/carol", "/dave", "/erin"}

// runDesync makes one hostile exchange through the proxy and then checks
// that ordinary clients each get their own answer, never the smuggled one,
// and that none of their requests went out on the hostile connection.
func runDesync(t *testing.T, b *advBackend, tc desyncCase, fake string) {
	t.Helper()
	gate := make(chan struct{})
	b.setScript(func(r *advRequest) *advReply {
		if r.Target == "/evil" {
			rep := tc.reply(fake)
			if rep.IdleGate == heldIdle {
				rep.IdleGate = gate
			}
			return rep
		}
		return nil
	})
	got := rawDo(t, proxyAddr, tc.method, tc.method+" /evil HTTP/1.1\r\nHost: x\r\n\r\n", 1)
	evil := b.find("/evil")
	if len(evil) != 1 {
		t.Fatalf("the backend saw %d hostile requests, want 1 (the client got %+v)", len(evil), got)
	}
	// The proxy is done with the hostile connection (released to its pool,
	// or closed) once the backend's in-flight count is 0 again: the try
	// is released after the answer's body is closed. Only then may the
	// held bytes come, and the victims go: one sent sooner would take
	// another connection while the hostile one was still out, and prove
	// nothing about it.
	waitNotInFlight(t, b.URL)
	close(gate)
	evil[0].waitSent(t)
	hostile := evil[0].Conn
	for _, p := range victims {
		resp, err := freshClient().Get(proxyURL + p)
		if err != nil {
			t.Errorf("victim %s: %v", p, err)
			continue
		}
		body := readBody(resp)
		if strings.Contains(body, "INJECTED") || strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), ";"), "attacker") {
			t.Errorf("victim %s got the smuggled response: %d %v %q", p, resp.StatusCode, resp.Header, body)
		} else if resp.StatusCode != 200 || body != "path:"+p {
			t.Errorf("victim %s got %d %q, want its own answer %q", p, resp.StatusCode, body, "path:"+p)
		}
	}
	for _, r := range b.requests() {
		if r.Conn == hostile && r.Seq > evil[0].Seq {
			t.Errorf("%s %s went out on the connection the hostile response came on (conn %d, request %d)", r.Method, r.Target, r.Conn, r.Seq)
		}
	}
}

// waitNotInFlight waits (up to 10 s) until the status API counts no
// request in flight to the backend at url.
func waitNotInFlight(t *testing.T, url string) {
	t.Helper()
	var last int64 = -1
	if !eventually(10*time.Second, func() bool {
		for _, rt := range getStatus(t).Routes {
			for _, bs := range rt.Backends {
				if bs.URL == url {
					last = bs.InFlight
					return last == 0
				}
			}
		}
		return false
	}) {
		t.Fatalf("backend %s: %d requests in flight after 10s (-1: not in the status), want 0", url, last)
	}
}

// freshClient is a client of its own that keeps no connection open.
func freshClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// A hostile backend misframes its answer so that bytes are left on its
// pooled connection: the next request on it would read them as its own
// answer. Such a connection must be closed, never reused.
func TestAttackPooledConnectionDesync(t *testing.T) {
	for _, tc := range desyncCases {
		t.Run(tc.name, func(t *testing.T) {
			b := newAdvBackend(t)
			closeServers(t, proxyAddr) // no request of the test goes to an old server
			start(t, map[string]any{"backends": []map[string]any{{"url": b.URL}}, "retries": map[string]any{"count": 0}})
			runDesync(t, b, tc, fakeResponse)
		})
	}
}

// The same through a cache: a smuggled, cacheable response must never be
// stored under a victim's URL.
func TestAttackPooledConnectionDesyncPoisonsCache(t *testing.T) {
	b := newAdvBackend(t)
	closeServers(t, proxyAddr)
	start(t, map[string]any{"backends": []map[string]any{{"url": b.URL}}, "retries": map[string]any{"count": 0},
		"cache": map[string]any{}})
	runDesync(t, b, desyncCases[1], fakeCacheable)
	for _, p := range victims[:2] {
		if code, body := get(t, freshClient(), p); body != "path:"+p {
			t.Errorf("later GET %s: %d %q, want its own answer (a poisoned cache entry?)", p, code, body)
		}
	}
	for _, rt := range getStatus(t).Routes {
		if rt.Cache != nil && rt.Cache.Entries != 0 {
			t.Errorf("route %s stores %d entries; the honest answers are not cacheable, so any entry is the smuggled one", rt.Name, rt.Cache.Entries)
		}
	}
}

// The same hostile answers, each written in two TCP segments split where
// the proxy's in-place parse of a head's first bytes must not be fooled:
// right after the status line, inside a Content-Length value, inside the
// CRLFCRLF that ends the head. The proxy reads the first part alone, must
// wait for the rest, and still closes the poisoned connection: no victim
// gets the smuggled response, none of their requests goes out on it.
func TestAttackSplitHeadDesync(t *testing.T) {
	splits := func(raw string) map[string]int {
		out := map[string]int{}
		if i := strings.Index(raw, "\r\n"); i >= 0 {
			out["after the status line"] = i + 2
		}
		if i := strings.Index(raw, "Content-Length: "); i >= 0 {
			out["inside content-length"] = i + len("Content-Length: ") + 1
		}
		if i := strings.Index(raw, "\r\n\r\n"); i >= 0 {
			out["inside crlfcrlf"] = i + 3
		}
		return out
	}
	for _, tc := range desyncCases {
		for where, at := range splits(tc.reply(fakeResponse).Raw) {
			split := desyncCase{name: tc.name, method: tc.method, reply: func(fake string) *advReply {
				r := tc.reply(fake)
				r.Split = at
				return r
			}}
			t.Run(tc.name+", "+where, func(t *testing.T) {
				b := newAdvBackend(t)
				closeServers(t, proxyAddr)
				start(t, map[string]any{"backends": []map[string]any{{"url": b.URL}}, "retries": map[string]any{"count": 0}})
				runDesync(t, b, split, fakeResponse)
			})
		}
	}
}
