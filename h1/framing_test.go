package h1

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// TestScanHead counts the framing fields of heads arriving one byte per
// read, and leaves every byte for http.ReadResponse.
func TestScanHead(t *testing.T) {
	cases := []struct {
		name string
		head string
		want headScan
	}{
		{"plain", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", headScan{true, 1, 0}},
		{"case and bare LF", "HTTP/1.1 200 OK\ncontent-LENGTH: 5\nTRANSFER-encoding: chunked\n\n", headScan{true, 1, 1}},
		{"duplicates", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", headScan{true, 2, 0}},
		{"folded line is no field", "HTTP/1.1 200 OK\r\nX-A: a\r\n Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", headScan{true, 0, 1}},
		{"no fields", "HTTP/1.1 204 No Content\r\n\r\n", headScan{true, 0, 0}},
		{"field named like the status line", "HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\n\r\n", headScan{true, 0, 0}},
		{"too large", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", bufSize) + "\r\nContent-Length: 5\r\n\r\n", headScan{false, 0, 0}},
		{"cut short", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", headScan{false, 1, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(tc.head+"hello")), bufSize)
			if got := scanHead(br); got != tc.want {
				t.Errorf("scanHead = %+v, want %+v", got, tc.want)
			}
			if !tc.want.complete {
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("ReadResponse after the scan: %v", err)
			}
			resp.Body.Close()
		})
	}
}

// BenchmarkScanHead measures the scan of a typical response head.
func BenchmarkScanHead(b *testing.B) {
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\nContent-Length: 1024\r\n\r\n"
	r := strings.NewReader(head)
	br := bufio.NewReaderSize(r, bufSize)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(head)
		br.Reset(r)
		if s := scanHead(br); !s.complete {
			b.Fatal("not scanned")
		}
	}
}
