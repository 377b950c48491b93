package caddytest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// Many streams on one HTTP/2 connection, their bodies interleaved frame by
// frame, some reset mid-body, all downgraded to HTTP/1.1 requests on
// pooled backend connections: every backend request gets exactly its own
// stream's bytes, a reset stream's request never ends as a complete one
// (no closing chunk, no Content-Length made up by bytes of another), its
// backend connection is closed rather than pooled with bytes unsent, and
// the requests that follow on the same connections arrive intact.
func TestH2DownInterleavedStreamsAndResets(t *testing.T) {
	b := newAdvBackend(t)
	log := &completeLog{}
	b.setScript(log.script)
	startH2(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	const streams, rounds, frame = 10, 3, 700
	bothTransports(t, func(t *testing.T, tlsOn bool) {
		nLog := log.len()
		c := dialH2(t, tlsOn)
		body := func(i int) string { return strings.Repeat(string(rune('a'+i)), frame) }
		path := func(i int) string { return fmt.Sprintf("/ms/%v/%d", tlsOn, i) }
		// Even streams declare their length (Content-Length upstream),
		// odd ones do not (chunked upstream); 3 and 6 are reset after the
		// first round, 8 after the second.
		resetAt := map[int]int{3: 1, 6: 1, 8: 2}
		ids := make([]uint32, streams)
		for i := range streams {
			ids[i] = uint32(1 + 2*i)
			var extra []hf
			if i%2 == 0 {
				extra = append(extra, hf{"content-length", fmt.Sprint(rounds * frame)})
			}
			c.request(ids[i], "POST", path(i), false, extra...)
		}
		for round := range rounds {
			for i := range streams {
				if at, ok := resetAt[i]; ok && round >= at {
					if round == at {
						// Reset once the proxy is mid-body upstream: the
						// backend has the head and, chunked, the chunks
						// so far (a Content-Length body is written
						// through a buffer, flushed when full).
						want := 0
						if i%2 == 1 {
							want = at * frame
						}
						if !eventually(5*time.Second, func() bool { return b.bodySoFar("POST "+path(i)+" ") >= want }) {
							t.Fatalf("%s: the backend never got %d bytes of the body", path(i), want)
						}
						c.reset(ids[i])
					}
					continue
				}
				c.data(ids[i], body(i), round == rounds-1)
			}
		}
		var live []uint32
		for i, id := range ids {
			if _, ok := resetAt[i]; !ok {
				live = append(live, id)
			}
		}
		got := c.await(live...)
		for i, id := range ids {
			if _, ok := resetAt[i]; ok {
				continue
			}
			if r := got[id]; r.Status != 200 || string(r.Body) != "path:"+path(i) {
				t.Errorf("stream %d: %v, want the backend's answer for %s", id, r, path(i))
			}
		}
		// Every complete request is a live stream's, with its bytes alone.
		want := map[string]string{}
		for i := range streams {
			if _, ok := resetAt[i]; !ok {
				want[path(i)] = strings.Repeat(body(i), rounds)
			}
		}
		for _, r := range log.since(nLog) {
			w, ok := want[r.Target]
			switch {
			case !ok:
				t.Errorf("the backend read a complete %s %s (%d bytes of body): a reset stream's request ended as a whole one",
					r.Method, r.Target, len(r.Body))
			case string(r.Body) != w:
				t.Errorf("%s: the backend read a body of %d bytes %.40q..., want its own %d", r.Target, len(r.Body), r.Body, len(w))
			}
			delete(want, r.Target)
		}
		for p := range want {
			t.Errorf("%s never reached the backend complete", p)
		}
		// A reset stream's backend connection is closed: the backend's
		// read of that request ends (it records a request when its body
		// read ends), with fewer bytes than the stream would have sent.
		for i := range resetAt {
			var seen []*advRequest
			ok := eventually(5*time.Second, func() bool {
				seen = nil
				for _, r := range b.requests() {
					if r.Target == path(i) {
						seen = append(seen, r)
					}
				}
				return len(seen) > 0 || !strings.Contains(b.received(), "POST "+path(i)+" ")
			})
			if !ok {
				t.Errorf("%s: the backend still waits for the rest of a reset stream's body: its connection was left open", path(i))
			}
			for _, r := range seen {
				if len(r.Body) >= rounds*frame {
					t.Errorf("%s: a reset stream's request reached the backend with %d bytes", path(i), len(r.Body))
				}
			}
		}
		// The connections that remain serve the next requests intact.
		nLog = log.len()
		id := uint32(1 + 2*streams)
		for range streams {
			if !c.alive(id) {
				t.Errorf("GET after the resets: %v", c.replies[id])
			}
			id += 2
		}
		for _, r := range log.since(nLog) {
			if r.Target != "/alive" || len(r.Body) != 0 {
				t.Errorf("after the resets the backend read %s %s with %d bytes of body", r.Method, r.Target, len(r.Body))
			}
		}
	})
}

// bodySoFar returns how many bytes follow the head of the request whose
// request line starts with line, on the connection that carries it (-1
// while its head has not arrived).
func (b *advBackend) bodySoFar(line string) int {
	b.mu.Lock()
	conns := append([]*advConn(nil), b.conns...)
	b.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		raw := c.raw.String()
		c.mu.Unlock()
		if i := strings.Index(raw, line); i >= 0 {
			if j := strings.Index(raw[i:], "\r\n\r\n"); j >= 0 {
				return len(raw) - i - j - 4
			}
		}
	}
	return -1
}

// A stream reset while its answer is still coming from the backend (the
// client stopped reading: HTTP/2 flow control holds the proxy's writes)
// leaves that backend connection with unread bytes: it is closed at once,
// never pooled, and the next requests get their own answers on another
// one. The close is seen from the backend's side, before any other
// request: its write of the answer fails on it. A pooled connection would
// hold that write until its deadline (10 s), and only a later check-out's
// peek would find the unread bytes: the next requests alone cannot tell.
func TestH2DownResetMidResponseClosesBackendConnection(t *testing.T) {
	b := newAdvBackend(t)
	const size = 8 << 20
	big := "HTTP/1.1 200 OK\r\nContent-Length: " + fmt.Sprint(size) + "\r\n\r\n" + strings.Repeat("x", size)
	b.setScript(func(r *advRequest) *advReply {
		if r.Target == "/big" {
			return &advReply{Raw: big}
		}
		return nil
	})
	startH2(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}}}, nil))
	c := dialH2(t, false)
	c.request(1, "GET", "/big", true)
	// The client reads the first 256 KiB of the answer, so the proxy is
	// mid-body, then nothing: the proxy fills the stream's window (1 MiB,
	// dialH2) and the socket buffers, and blocks with most of the body
	// unread.
	if !c.readUntil(1, 256<<10) {
		t.Fatalf("the answer to /big did not begin: %v", c.replies[1])
	}
	got := b.find("/big")
	if len(got) != 1 {
		t.Fatalf("the backend got /big %d times", len(got))
	}
	c.reset(1)
	got[0].waitSent(t)
	var ne net.Error
	if err := got[0].replyErr; err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the backend's write of /big ended with %v, want the proxy's close of the connection", err)
	}
	for i := range 4 {
		id := uint32(3 + 2*i)
		if !c.alive(id) {
			t.Fatalf("GET after the reset: %v", c.replies[id])
		}
	}
	bigConn := got[0].Conn
	for _, r := range b.find("/alive") {
		if r.Conn == bigConn {
			t.Errorf("/alive arrived on the connection whose answer to /big was left unread (request %d on it)", r.Seq)
		}
	}
	if got := len(c.replies[1].Body); got >= size {
		t.Errorf("the reset stream got all %d bytes: the reset came too late to test anything", got)
	}
}

// A stream's body that fails while its request lives (timeouts.request_body
// cuts it: no reset, the stream's context goes on) ends the chunked request
// upstream without its closing chunk: the backend never reads it as a
// complete request, and its connection is closed mid-body. A reset stream
// (TestH2DownInterleavedStreamsAndResets) shows the same only when its
// body's failure reaches the transport before the context's end aborts the
// connection, which is a race; here nothing else ends the write.
func TestH2DownCutBodySendsNoClosingChunk(t *testing.T) {
	b := newAdvBackend(t)
	log := &completeLog{}
	b.setScript(log.script)
	startH2(t, spRoute(map[string]any{"backends": []map[string]any{{"url": b.URL}},
		"timeouts": map[string]any{"request_body": "500ms"}, "retries": map[string]any{"count": 0}}, nil))
	bothTransports(t, func(t *testing.T, tlsOn bool) {
		nLog := log.len()
		c := dialH2(t, tlsOn)
		path := fmt.Sprintf("/cut/%v", tlsOn)
		c.request(1, "POST", path, false)
		c.data(1, strings.Repeat("a", 700), false)
		if !eventually(5*time.Second, func() bool { return b.bodySoFar("POST "+path+" ") >= 700 }) {
			t.Fatalf("%s: the backend never got the first 700 bytes of the body", path)
		}
		if r := c.one(1); r.Status != 408 {
			t.Errorf("the cut stream: %v, want 408", r)
		}
		handlersIdle(t)
		// The backend records a request once its body read ends: here by
		// the proxy's close, mid-body.
		var seen []*advRequest
		if !eventually(5*time.Second, func() bool { seen = b.find(path); return len(seen) > 0 }) {
			t.Fatalf("%s: the backend still waits for the rest of the body: its connection was left open", path)
		}
		for _, r := range log.since(nLog) {
			t.Errorf("the backend read a complete %s %s (%d bytes of body): the cut body was ended as a whole one", r.Method, r.Target, len(r.Body))
		}
		if raw := b.received(); strings.Contains(raw[strings.Index(raw, "POST "+path+" "):], "\r\n0\r\n\r\n") {
			t.Errorf("%s: the backend got a closing chunk", path)
		}
	})
}
