package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A hostile backend's answer arrives split across TCP segments at every
// byte of its head (inside CRLFCRLF, inside Content-Length's value, right
// after the status line, ...) and is followed by bytes past the response:
// a second response, or a body a HEAD, 204 or 304 may not have. Whatever
// the split, the transport returns the answer as net/http frames it and
// closes the connection; the next request goes out on a new connection
// and gets its own answer, never the stray bytes. (The head's first bytes
// are parsed in place at once, readHead: a split head must fall back to
// the scan, and no split may make fastHead take a partial head.)
func TestSplitHeadThenStrayBytes(t *testing.T) {
	cases := []struct {
		name, method, head, rest, want string
	}{
		{"second response", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "0123456789" + injected, "0123456789"},
		{"long length value", "GET", "HTTP/1.1 200 OK\r\nX-A: b\r\nContent-Length: 00012\r\n\r\n", "0123456789ab" + injected, "0123456789ab"},
		{"head with a body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n", "INJECTED", ""},
		{"204 with a body", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 8\r\n\r\n", "INJECTED", ""},
		{"304 with a body", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 8\r\n\r\n", "INJECTED", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for split := 1; split < len(tc.head); split++ {
				resp1 := tc.head + tc.rest
				var closed atomic.Int64
				rs := newRawServer(t, func(n int, c net.Conn) {
					br := bufio.NewReader(c)
					for i := 0; ; i++ {
						if _, _, err := readRequest(br); err != nil {
							closed.Add(1)
							return
						}
						if n == 1 && i == 0 {
							io.WriteString(c, resp1[:split])
							time.Sleep(2 * time.Millisecond) // its own segment, read alone
							io.WriteString(c, resp1[split:])
							continue
						}
						io.WriteString(c, nextAnswer)
					}
				})
				tr := New(Config{})
				resp, body := do(t, tr, mustReq(t, context.Background(), tc.method, rs.url(), nil))
				if body != tc.want || strings.Contains(body, "INJECTED") {
					t.Errorf("split at %d (%q): first answer %d %q, want %q", split, tc.head[:split], resp.StatusCode, body, tc.want)
				}
				time.Sleep(5 * time.Millisecond) // let the stray bytes land, as in the worst case
				if _, body := get(t, tr, rs.url()); body != "next" {
					t.Errorf("split at %d (%q): next request read %q, want its own answer", split, tc.head[:split], body)
				}
				if n := rs.accepted.Load(); n != 2 {
					t.Errorf("split at %d (%q): %d connections, want the poisoned one closed and a new one", split, tc.head[:split], n)
				}
				tr.Close()
			}
		})
	}
}

// A connection idles in the pool past its read deadline (the context
// check's, armed by the exchange before), then the backend sends bytes
// unasked: the checkout peek, which no deadline stops (quiet), sees them
// and closes the connection; the next request goes out on a new one. So too when the exchange before
// outlived the check (its deadline then is the header deadline or none).
func TestStrayBytesAfterIdleDeadline(t *testing.T) {
	cases := []struct {
		name    string
		delay   time.Duration // before the first answer
		timeout time.Duration // ResponseHeaderTimeout
	}{
		{"fast answer", 0, 0},
		{"fast answer, header timeout", 0, 30 * time.Millisecond},
		{"answer past the check", 40 * time.Millisecond, 0},
		{"answer past the check, header timeout", 40 * time.Millisecond, time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sent := make(chan struct{})
			rs := newRawServer(t, func(n int, c net.Conn) {
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					if _, _, err := readRequest(br); err != nil {
						return
					}
					if n == 1 && i == 0 {
						time.Sleep(tc.delay)
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
						time.Sleep(80 * time.Millisecond) // idle past the deadline and its slack
						io.WriteString(c, injected)
						close(sent)
						continue
					}
					io.WriteString(c, nextAnswer)
				}
			})
			tr := New(Config{ResponseHeaderTimeout: tc.timeout})
			tr.abortCheck = 20 * time.Millisecond
			defer tr.Close()
			if _, body := get(t, tr, rs.url()); body != "first" {
				t.Fatalf("first answer %q", body)
			}
			<-sent
			eventually(t, "the stray bytes to arrive", func() bool { return idleReadable(tr, rs.ln.Addr().String()) })
			if _, body := get(t, tr, rs.url()); body != "next" {
				t.Errorf("next request read %q, want its own answer", body)
			}
			if n := rs.accepted.Load(); n != 2 {
				t.Errorf("%d connections, want the poisoned one closed and a new one", n)
			}
		})
	}
}

// A backend sends an interim (1xx) response and then stalls: the client
// leaving before the context check is noticed by the check, after it (the
// context watched from then on) at once; either way the connection is
// closed. A final answer that comes after the check is delivered and its
// connection kept.
func TestInterimThenStall(t *testing.T) {
	cases := []struct {
		name   string
		cancel time.Duration // after the interim response; 0: never
	}{
		{"client leaves before the check", 2 * time.Millisecond},
		{"client leaves after the check", 60 * time.Millisecond},
		{"client stays", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			interim, closed := make(chan struct{}, 1), make(chan struct{}, 1)
			rs := newRawServer(t, func(n int, c net.Conn) {
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					if _, _, err := readRequest(br); err != nil {
						closed <- struct{}{}
						return
					}
					if i > 0 {
						io.WriteString(c, nextAnswer)
						continue
					}
					io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
					interim <- struct{}{}
					if tc.cancel != 0 {
						continue // stalls: the next read ends with the connection
					}
					time.Sleep(60 * time.Millisecond)
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
				}
			})
			tr := New(Config{})
			tr.abortCheck = 20 * time.Millisecond
			defer tr.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			var got string
			go func() {
				resp, err := tr.RoundTrip(mustReq(t, ctx, "GET", rs.url(), nil))
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					got, err = string(b), rerr
					resp.Body.Close()
				}
				done <- err
			}()
			<-interim
			if tc.cancel != 0 {
				time.Sleep(tc.cancel)
				cancel()
			}
			select {
			case err := <-done:
				if tc.cancel == 0 {
					if err != nil || got != "final" {
						t.Fatalf("got %q, %v; want the final answer", got, err)
					}
					if _, body := get(t, tr, rs.url()); body != "next" || rs.accepted.Load() != 1 {
						t.Errorf("next: %q on %d connections, want %q on the same one", body, rs.accepted.Load(), "next")
					}
					return
				}
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
			case <-time.After(waitFor):
				t.Fatal("the exchange did not end")
			}
			waitClosed(t, closed)
		})
	}
}

// A client leaves while the transport waits for 100 Continue: the request
// has a body, so its context is watched from the start, and the wait
// ends at once (not at ExpectContinueTimeout) with none of the body sent
// and the connection closed.
func TestClientLeavesDuringContinueWait(t *testing.T) {
	head, closed := make(chan struct{}, 1), make(chan string, 1)
	rs := newRawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_ = req
		head <- struct{}{}
		rest, _ := io.ReadAll(br) // until the transport closes
		closed <- string(rest)
	})
	tr := New(Config{ExpectContinueTimeout: time.Minute})
	tr.abortCheck = time.Hour
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := mustReq(t, ctx, "PUT", rs.url(), onceBody("secret body"))
	req.ContentLength = int64(len("secret body"))
	req.Header.Set("Expect", "100-continue")
	done := roundTripAsync(tr, req)
	<-head
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait for 100 Continue outlived the client")
	}
	select {
	case rest := <-closed:
		if rest != "" {
			t.Errorf("the backend got %q of the body, want none", rest)
		}
	case <-time.After(waitFor):
		t.Fatal("the backend connection stayed open")
	}
}

// Clients leave at every moment around the context check while the
// backend answers just around it, one request after another on the same
// pooled connection: every answer delivered is its own request's, and a
// connection whose exchange was abandoned mid-response is never reused
// (the backend's late answer would be read as the next request's).
func TestLeavingAroundTheCheckNeverCrosses(t *testing.T) {
	const check = 20 * time.Millisecond
	rs := newRawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, _, err := readRequest(br)
			if err != nil {
				return
			}
			var d time.Duration
			fmt.Sscanf(req.URL.Query().Get("d"), "%d", &d)
			time.Sleep(d * time.Millisecond)
			body := "path:" + req.URL.RequestURI()
			// The head and the body apart, so a client may leave between.
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
			time.Sleep(d * time.Millisecond / 4)
			io.WriteString(c, body)
		}
	})
	tr := New(Config{})
	tr.abortCheck = check
	defer tr.Close()
	delays := []int{0, 15, 19, 20, 21, 24, 25, 26, 30}
	served, abandoned := 0, 0
	for i := 0; i < 45; i++ {
		d := delays[i%len(delays)]
		leave := time.Duration(delays[(i*7)%len(delays)]) * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		target := fmt.Sprintf("/r%d?d=%d", i, d)
		timer := time.AfterFunc(leave, cancel)
		resp, err := tr.RoundTrip(mustReq(t, ctx, "GET", rs.url()+target, nil))
		if err == nil && i%3 == 0 {
			cancel() // leaves once the head is in, before the body
		}
		if err == nil && ctx.Err() != nil {
			resp.Body.Close() // abandoned, as the proxy does when its client is gone
			abandoned++
		} else if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil {
				served++
				if string(b) != "path:"+target {
					t.Errorf("request %s got %q", target, b)
				}
			}
		}
		timer.Stop()
		cancel()
		// A request that stays gets its own answer on whatever connection.
		if _, body := get(t, tr, rs.url()+fmt.Sprintf("/s%d", i)); body != fmt.Sprintf("path:/s%d", i) {
			t.Errorf("request /s%d got %q", i, body)
		}
	}
	if served == 0 || abandoned == 0 {
		t.Errorf("%d answers read whole, %d abandoned, want some of each: the schedule tests nothing", served, abandoned)
	}
}
