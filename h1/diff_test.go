package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// outcome is what a client made of one backend byte stream: the framing
// decision that TestFramingAgainstNetHTTP compares.
type outcome struct {
	err     bool // RoundTrip failed: the proxy answers 502
	status  int
	body    string
	bodyErr bool   // reading the body failed
	reused  bool   // the next request went on the same connection
	next    string // the body of the next request's answer
}

func (o outcome) String() string {
	if o.err {
		return fmt.Sprintf("refused, reused=%v", o.reused)
	}
	return fmt.Sprintf("%d %.30q bodyErr=%v reused=%v", o.status, o.body, o.bodyErr, o.reused)
}

// observe sends a request to a backend that answers it with raw, closing
// the connection after it when closeAfter is set, then a GET, which the
// backend answers with nextAnswer on whichever connection it comes.
func observe(t *testing.T, rt http.RoundTripper, method, raw string, closeAfter bool) outcome {
	t.Helper()
	rs := newRawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			if n == 1 && i == 0 {
				io.WriteString(c, raw)
				if closeAfter {
					return
				}
				continue
			}
			io.WriteString(c, nextAnswer)
		}
	})
	var o outcome
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	resp, err := rt.RoundTrip(mustReq(t, ctx, method, rs.url(), nil))
	if err != nil {
		o.err = true
	} else {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		o.status, o.body, o.bodyErr = resp.StatusCode, string(b), err != nil
	}
	// net/http may hand out a connection before it notices the bytes left
	// on it, and then wait for a body that never ends: bounded.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if resp, err := rt.RoundTrip(mustReq(t, ctx2, "GET", rs.url(), nil)); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		o.next = string(b)
	}
	o.reused = rs.accepted.Load() == 1
	return o
}

// sameOrStricter explains how h, h1's outcome, frames less strictly than
// s, net/http's, or returns "".
func sameOrStricter(h, s outcome) string {
	switch {
	case s.err && !h.err:
		return "net/http refused the response, h1 delivered it"
	case h.reused && !s.reused:
		return "h1 reused a connection that net/http closed"
	case h.err:
		return ""
	case h.status != s.status:
		return "status differs"
	case h.bodyErr:
		return "" // a body h1 fails is never delivered whole
	case s.bodyErr:
		return "net/http failed the body, h1 read it whole"
	case h.body != s.body:
		return "body differs"
	}
	return ""
}

// TestFramingAgainstNetHTTP runs backend byte streams, valid and hostile,
// through h1 and through net/http's Transport: h1 must make the same
// framing decision or a stricter one (refuse what net/http refuses, read
// the same status and body, never reuse a connection net/http would
// not), and its own decision is the one documented in the package doc.
// The request after each stream must get the backend's next answer.
func TestFramingAgainstNetHTTP(t *testing.T) {
	const (
		ok5      = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
		chunked5 = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	)
	type want struct{ err, bodyErr, reuse bool }
	var (
		reused    = want{reuse: true}
		closed    = want{}
		refused   = want{err: true}
		badBody   = want{bodyErr: true}
		interim17 = strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", maxInterim+1)
		bigField  = "X-Big: " + strings.Repeat("b", bufSize) + "\r\n" // a head past the read buffer
	)
	cases := []struct {
		name       string
		method     string
		raw        string
		closeAfter bool // the backend closes after raw
		want       want
	}{
		// Valid framing.
		{"content-length", "GET", ok5, false, reused},
		{"chunked", "GET", chunked5, false, reused},
		{"chunk extensions", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=\"v\"\r\nhello\r\n0;last\r\n\r\n", false, reused},
		{"trailers", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n", false, reused},
		{"1xx sequence", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n" + ok5, false, reused},
		{"16 interim responses", "GET", strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", maxInterim) + ok5, false, reused},
		{"HEAD with a length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", false, reused},
		{"HEAD chunked", "HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, reused},
		{"204", "GET", "HTTP/1.1 204 No Content\r\n\r\n", false, reused},
		{"304 with a length", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n", false, reused},
		{"HTTP/1.0 keep-alive", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello", false, reused},
		{"HTTP/1.0", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", true, closed},
		{"HTTP/1.0 to EOF", "GET", "HTTP/1.0 200 OK\r\n\r\nhello", true, closed},
		{"Connection: close", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello", true, closed},
		{"Connection: keep-alive, close", "GET", "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 5\r\n\r\nhello", false, closed},
		{"close-delimited", "GET", "HTTP/1.1 200 OK\r\n\r\nhello", true, closed},
		{"bare LF", "GET", "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", false, reused},
		{"obs-fold", "GET", "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 5\r\n\r\nhello", false, reused},
		{"obs-fold Transfer-Encoding", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, reused},
		{"leading zeros in length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 005\r\n\r\nhello", false, reused},
		{"space before colon: not a length", "GET", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello", true, closed},
		{"upgrade", "GET", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nraw bytes", true, closed},

		// Doubtful framing: delivered, connection closed.
		{"Content-Length and chunked", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, closed},
		{"chunked and Content-Length", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 28\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, closed},
		{"HEAD with length and chunked", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", false, closed},
		{"duplicate equal lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", false, closed},
		{"HTTP/1.0 chunked with length", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello", false, closed},
		{"HTTP/1.0 chunked to EOF", "GET", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", true, closed},

		{"head past the buffer, length", "GET", "HTTP/1.1 200 OK\r\n" + bigField + "Content-Length: 5\r\n\r\nhello", false, reused},
		{"head past the buffer, chunked", "GET", "HTTP/1.1 200 OK\r\n" + bigField + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, closed},
		{"head past the buffer, HTTP/1.0", "GET", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n" + bigField + "Content-Length: 5\r\n\r\nhello", false, closed},

		// Refused.
		{"conflicting lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", false, refused},
		{"length list", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", false, refused},
		{"negative length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello", false, refused},
		{"signed length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", false, refused},
		{"empty length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nhello", false, refused},
		{"hex length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello", false, refused},
		{"gzip, chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, refused},
		{"chunked, gzip", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, refused},
		{"identity", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello", false, refused},
		{"two Transfer-Encoding fields", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false, refused},
		{"bad status line", "GET", "HTTP/1.1 abc OK\r\n\r\n", false, refused},
		{"not HTTP", "GET", "garbage\r\n\r\n", false, refused},
		{"nothing", "GET", "", true, refused},
		{"truncated head", "GET", "HTTP/1.1 200 OK\r\nContent-Le", true, refused},
		{"endless 1xx", "GET", interim17 + ok5, false, refused},

		// Bodies that fail.
		{"huge chunk size", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n0\r\n\r\n", false, badBody},
		{"chunk longer than sent", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\nhello", true, badBody},
		{"bare LF in chunks", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n", true, badBody},
		{"chunk data overrun", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", true, badBody},
		{"no last chunk", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", true, badBody},
		{"short body", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", true, badBody},

		// Bytes past the response: delivered, connection closed.
		{"HEAD answered with a body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n" + injected, false, closed},
		{"body longer than its length", "GET", ok5 + injected, false, closed},
		{"two responses", "GET", ok5 + ok5, false, closed},
		{"204 with a body", "GET", "HTTP/1.1 204 No Content\r\n\r\n" + injected, false, closed},
		{"304 with a body", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 8\r\n\r\n" + injected, false, closed},
		{"bytes after the last chunk", "GET", chunked5 + injected, false, closed},
		{"stray CRLF after the body", "GET", ok5 + "\r\n", false, closed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(Config{})
			defer tr.Close()
			std := &http.Transport{DisableCompression: true}
			defer std.CloseIdleConnections()
			h := observe(t, tr, tc.method, tc.raw, tc.closeAfter)
			s := observe(t, std, tc.method, tc.raw, tc.closeAfter)
			if why := sameOrStricter(h, s); why != "" {
				t.Errorf("%s:\n h1:       %v\n net/http: %v", why, h, s)
			}
			if h.err != tc.want.err || (!h.err && h.bodyErr != tc.want.bodyErr) || h.reused != tc.want.reuse {
				t.Errorf("h1: %v; want err=%v bodyErr=%v reused=%v", h, tc.want.err, tc.want.bodyErr, tc.want.reuse)
			}
			if h.next != "next" {
				t.Errorf("the next request through h1 read %q, want the backend's next answer", h.next)
			}
		})
	}
}
