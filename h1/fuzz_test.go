package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FuzzBackendResponse feeds arbitrary bytes to the transport as a
// backend's answer: it must neither panic nor hang, must not pool a
// connection whose response failed to parse, and must leave no goroutine
// or connection behind once closed.
func FuzzBackendResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n3\r\nabc\r\n0\r\nX: 1\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw",
		"HTTP/1.0 200 OK\r\n\r\nclose-delimited",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"garbage\r\n\r\n",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		served := make(chan struct{})
		tr := New(Config{
			ResponseHeaderTimeout: 5 * time.Second,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				client, server := net.Pipe()
				go func() {
					defer close(served)
					defer server.Close()
					if _, err := http.ReadRequest(bufio.NewReader(server)); err != nil {
						return
					}
					io.WriteString(server, raw)
				}()
				return client, nil
			},
		})
		resp, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", "http://backend.test/", nil))
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
		} else if n := tr.idleCount(); n != 0 {
			t.Fatalf("failed exchange (%v) left %d pooled connections", err, n)
		}
		tr.Close()
		select {
		case <-served:
		case <-time.After(waitFor):
			t.Fatal("backend still blocked: a connection was left open")
		}
	})
}
