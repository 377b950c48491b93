package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// pattern is a body whose every byte depends on its offset, so a byte out
// of place or from another response shows.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// tcpSink is a loopback TCP connection whose far end collects what the
// near end (a *net.TCPConn, so its ReadFrom splices) is sent.
type tcpSink struct {
	near *net.TCPConn
	far  net.Conn
	got  chan []byte // everything the far end read, once it sees EOF or stop
	stop int         // read at most this many bytes, then close; 0: all; <0: the test reads far itself
}

func newTCPSink(t *testing.T, stop int) *tcpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	near, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	far, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpSink{near: near.(*net.TCPConn), far: far, got: make(chan []byte, 1), stop: stop}
	t.Cleanup(func() { near.Close(); far.Close() })
	if stop < 0 {
		return s // a second reader of far would take bytes the test waits for
	}
	go func() {
		var r io.Reader = far
		if stop > 0 {
			r = io.LimitReader(far, int64(stop))
		}
		b, _ := io.ReadAll(r)
		far.Close()
		s.got <- b
	}()
	return s
}

// received closes the near end and returns what the far end read.
func (s *tcpSink) received() []byte {
	s.near.CloseWrite()
	return <-s.got
}

func (s *tcpSink) Write(p []byte) (int, error) { return s.near.Write(p) }

// ReadFrom checks the contract (an *io.LimitedReader over a *net.TCPConn)
// and lets the TCP connection do the rest.
func (s *tcpSink) ReadFrom(r io.Reader) (int64, error) {
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		return 0, fmt.Errorf("ReadFrom got %T, want *io.LimitedReader", r)
	}
	if _, ok := lr.R.(*net.TCPConn); !ok {
		return 0, fmt.Errorf("ReadFrom got a LimitedReader over %T, want *net.TCPConn", lr.R)
	}
	return s.near.ReadFrom(r)
}

// spliceBackend answers each request on a connection with head, then
// body, then extra (bytes past the body), and closes after the answer
// when closeAfter is set.
func spliceBackend(t *testing.T, body []byte, extra string, closeAfter bool, head string) *rawServer {
	return newRawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			io.WriteString(c, head)
			c.Write(body)
			io.WriteString(c, extra)
			if closeAfter {
				return
			}
		}
	})
}

func spliceable(t *testing.T, tr *Transport, url string) (*http.Response, Splicer) {
	t.Helper()
	resp, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", url, nil))
	if err != nil {
		t.Fatal(err)
	}
	sp, ok := resp.Body.(Splicer)
	if !ok || !sp.CanSplice() {
		t.Fatalf("body %T: not spliceable", resp.Body)
	}
	return resp, sp
}

func TestSpliceTo(t *testing.T) {
	const size = 1 << 20
	body := pattern(size)
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
	for _, tc := range []struct {
		name       string
		extra      string // sent after the body
		closeAfter bool   // the backend closes after its answer
		cut        int    // the backend sends only this much of the body; 0: all
		wantErr    error
		reused     bool
	}{
		{name: "exact body, connection reused", reused: true},
		{name: "bytes past the body are not sent, connection closed", extra: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"},
		{name: "body cut short: the backend's failure", cut: size - 1000, closeAfter: true, wantErr: io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := body
			if tc.cut > 0 {
				b = body[:tc.cut]
			}
			rs := spliceBackend(t, b, tc.extra, tc.closeAfter, head)
			tr := New(Config{})
			defer tr.Close()
			resp, sp := spliceable(t, tr, rs.url())
			sink := newTCPSink(t, 0)
			n, err := sp.SpliceTo(sink)
			resp.Body.Close()
			got := sink.received()
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || errors.Is(err, ErrSpliceWrite) {
					t.Fatalf("SpliceTo error %v, want %v and not ErrSpliceWrite", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("SpliceTo: %v", err)
			}
			if n != int64(len(b)) || !bytes.Equal(got, b) {
				t.Fatalf("spliced %d bytes, received %d (equal %v); want exactly the %d sent", n, len(got), bytes.Equal(got, b), len(b))
			}
			if tc.wantErr != nil {
				return
			}
			_, again := get(t, tr, rs.url())
			if again != string(body) {
				t.Fatal("second exchange: body differs")
			}
			if accepted := rs.accepted.Load(); (accepted == 1) != tc.reused {
				t.Errorf("%d connections for two exchanges; reused %v, want %v", accepted, accepted == 1, tc.reused)
			}
		})
	}
}

// A client that stops reading fails SpliceTo as the destination's
// failure (ErrSpliceWrite), the backend being intact.
func TestSpliceToClientGone(t *testing.T) {
	const size = 32 << 20 // more than the sockets and the pipe hold
	rs := spliceBackend(t, pattern(size), "", false, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size))
	tr := New(Config{})
	defer tr.Close()
	resp, sp := spliceable(t, tr, rs.url())
	defer resp.Body.Close()
	sink := newTCPSink(t, 256<<10) // reads 256 KiB, then closes
	n, err := sp.SpliceTo(sink)
	if !errors.Is(err, ErrSpliceWrite) {
		t.Fatalf("SpliceTo = %d, %v; want an ErrSpliceWrite", n, err)
	}
	if n >= size {
		t.Fatalf("spliced %d bytes of %d to a client that left", n, size)
	}
}

// A request context that ends stops a splice that waits on the backend.
func TestSpliceToContextEnds(t *testing.T) {
	const size = 1 << 20
	stall := make(chan struct{})
	defer close(stall)
	rs := newRawServer(t, func(_ int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
		c.Write(pattern(size / 2))
		<-stall // the rest never comes
	})
	tr := New(Config{})
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := tr.RoundTrip(mustReq(t, ctx, "GET", rs.url(), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sink := newTCPSink(t, -1)
	done := make(chan error, 1)
	go func() {
		_, err := resp.Body.(Splicer).SpliceTo(sink)
		done <- err
	}()
	// Cancel once the first half is through: the splice then waits.
	var seen int
	buf := make([]byte, 64<<10)
	for seen < size/2 {
		n, err := sink.far.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		seen += n
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || errors.Is(err, ErrSpliceWrite) {
		t.Fatalf("SpliceTo after cancel: %v, want context.Canceled", err)
	}
}

func TestCanSplice(t *testing.T) {
	big := pattern(SpliceMin * 2)
	for _, tc := range []struct {
		name    string
		head    string
		body    []byte
		perRead time.Duration // a per-read bound of the connection's own (timeouts.read); 0: none
		want    bool
	}{
		{"Content-Length, large", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(big)), big, 0, true},
		{"Content-Length, small", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", []byte("hello"), 0, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", append([]byte(fmt.Sprintf("%x\r\n", len(big))), append(big, "\r\n0\r\n\r\n"...)...), 0, false},
		{"Content-Length and chunked: chunked wins", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n", len(big)), append([]byte(fmt.Sprintf("%x\r\n", len(big))), append(big, "\r\n0\r\n\r\n"...)...), 0, false},
		{"delimited by the close", "HTTP/1.0 200 OK\r\n\r\n", big, 0, false},
		// Read under its bound, so that a stall fails as ErrBodyReadTimeout
		// (TestBodyReadCauseNamed): no splice reads past the bound.
		{"Content-Length, large, per-read bound", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(big)), big, time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := spliceBackend(t, tc.body, "", true, tc.head)
			cfg := Config{}
			if tc.perRead > 0 {
				cfg.DialContext = perReadDial(tc.perRead)
			}
			tr := New(cfg)
			defer tr.Close()
			resp, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", rs.url(), nil))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			sp, ok := resp.Body.(Splicer)
			if got := ok && sp.CanSplice(); got != tc.want {
				t.Errorf("CanSplice = %v, want %v", got, tc.want)
			}
		})
	}
}
