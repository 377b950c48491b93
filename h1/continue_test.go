package h1

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// continueServer answers each request with first, then, after pause, rest
// ("" : never; it holds the connection until the transport closes it),
// and when echo is set it then reads the request body and answers it
// with that body. It reads no body before, as a backend that decides on
// the request head alone.
func continueServer(t *testing.T, first, rest string, pause time.Duration, echo bool) *rawServer {
	return newRawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.WriteString(c, first)
			if rest == "" {
				io.Copy(io.Discard, br)
				return
			}
			time.Sleep(pause)
			io.WriteString(c, rest)
			if !echo {
				return // the body was not asked for: this connection is done
			}
			b, err := io.ReadAll(req.Body)
			if err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(b))+"\r\n\r\n")
			c.Write(b)
		}
	})
}

// A backend begins a head while the transport waits for 100 Continue and
// the wait's timer (ExpectContinueTimeout) fires inside it: the backend is
// answering, so the rest of that head is read, not parsed as it stands
// nor thrown away, and the exchange goes on as the head says (an early
// final answer: the body is not sent; 100 Continue: the body is sent, and
// the final answer read). A head that never ends fails with a timeout
// (504), the header timeout's or a per-read bound's (timeouts.read),
// never with the parse error of its partial last line (502).
func TestContinueWaitEndsInsideHead(t *testing.T) {
	const (
		ect   = 50 * time.Millisecond
		pause = 300 * time.Millisecond // the rest of the head comes after the timer
	)
	cases := []struct {
		name     string
		first    string
		rest     string // "": the backend stalls
		echo     bool
		perRead  time.Duration
		ect      time.Duration // 0: ect
		timeout  time.Duration // ResponseHeaderTimeout
		status   int           // 0: want a timeout error, want
		want     error
		body     string
		bodySent bool
	}{
		{name: "final head completes", first: "HTTP/1.1 200 OK\r\nCont", rest: "ent-Length: 2\r\n\r\nok",
			timeout: waitFor, status: 200, body: "ok"},
		// Larger than the read buffer: http.ReadResponse is reading it.
		{name: "long final head completes", first: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 6000),
			rest: "\r\nContent-Length: 2\r\n\r\nok", timeout: waitFor, status: 200, body: "ok"},
		{name: "interim head completes", first: "HTTP/1.1 100 Cont", rest: "inue\r\n\r\n", echo: true,
			timeout: waitFor, status: 200, body: "payload", bodySent: true},
		// The final head begins in the same read as the 103 before it.
		{name: "103 and a final head's start together", first: "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nCont",
			rest: "ent-Length: 2\r\n\r\nok", timeout: waitFor, status: 200, body: "ok"},
		{name: "103 then silence", first: "HTTP/1.1 103 Early", rest: " Hints\r\nLink: </a>\r\n\r\n", echo: true,
			timeout: waitFor, status: 200, body: "payload", bodySent: true},
		{name: "final head stalls, header timeout", first: "HTTP/1.1 200 OK\r\nCont", timeout: pause, want: ErrResponseHeaderTimeout},
		{name: "interim head stalls, header timeout", first: "HTTP/1.1 100 Cont", timeout: pause, want: ErrResponseHeaderTimeout},
		{name: "final head stalls, per-read timeout", first: "HTTP/1.1 200 OK\r\nCont", perRead: pause, want: ErrReadTimeout},
		{name: "interim head stalls, per-read timeout", first: "HTTP/1.1 100 Cont", perRead: pause, want: ErrReadTimeout},
		// The per-read bound fires first, inside the head: final too.
		{name: "final head stalls, per-read timeout first", first: "HTTP/1.1 200 OK\r\nCont", perRead: pause, ect: time.Minute, want: ErrReadTimeout},
		{name: "interim head stalls, per-read timeout first", first: "HTTP/1.1 100 Cont", perRead: pause, ect: time.Minute, want: ErrReadTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := continueServer(t, tc.first, tc.rest, pause, tc.echo)
			cfg := Config{ExpectContinueTimeout: cmp.Or(tc.ect, ect), ResponseHeaderTimeout: tc.timeout}
			if tc.perRead > 0 {
				cfg.DialContext = perReadDial(tc.perRead)
			}
			tr := New(cfg)
			defer tr.Close()
			body := &trackedBody{Reader: strings.NewReader("payload")}
			req := mustReq(t, context.Background(), "PUT", rs.url(), body)
			req.ContentLength = 7
			req.Header.Set("Expect", "100-continue")
			begin := time.Now()
			resp, err := tr.RoundTrip(req)
			if tc.status == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %d, want a timeout", resp.StatusCode)
				}
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if el := time.Since(begin); el > waitFor/2 {
					t.Fatalf("timed out after %v", el)
				}
				if body.read.Load() {
					t.Error("the body was sent into a head that had begun")
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want %d %q", err, tc.status, tc.body)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != tc.status || string(b) != tc.body {
				t.Fatalf("got %d %q (%v), want %d %q", resp.StatusCode, b, err, tc.status, tc.body)
			}
			if body.read.Load() != tc.bodySent {
				t.Errorf("body sent = %v, want %v", body.read.Load(), tc.bodySent)
			}
		})
	}
}
