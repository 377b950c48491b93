package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"
)

// parseBoth reads data with fastHead and with http.ReadResponse; fast is
// nil when fastHead declined.
func parseBoth(t *testing.T, data []byte, method string) (fast, std *http.Response, stdErr error) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://backend/", nil)
	br := bufio.NewReaderSize(bytes.NewReader(data), 64<<10)
	br.Peek(len(data)) // buffered whole, as scanHead leaves it
	fast = fastHead(br, req)
	std, stdErr = http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), req)
	if fast != nil {
		// readHead skips the scan for the heads fastHead takes.
		if s := scanHead(bufio.NewReaderSize(bytes.NewReader(data), 64<<10)); s != fastScan {
			t.Fatalf("fastHead took a head scanHead reads as %+v, not %+v", s, fastScan)
		}
	}
	return fast, std, stdErr
}

// sameResponse fails unless fast is what net/http makes of the same bytes,
// body and how it ends included.
func sameResponse(t *testing.T, fast, std *http.Response, stdErr error) {
	t.Helper()
	if stdErr != nil {
		t.Fatalf("fastHead accepted a head net/http refuses: %v", stdErr)
	}
	type view struct {
		Status            string
		StatusCode        int
		Proto             string
		ProtoMajor, Minor int
		Header, Trailer   http.Header
		ContentLength     int64
		Close             bool
		TransferEncoding  []string
		Body              string
		BodyEnd           string
		NoBody            bool
	}
	v := func(r *http.Response) view {
		b, err := io.ReadAll(r.Body)
		end := "EOF"
		if err != nil {
			end = err.Error()
			if errors.Is(err, io.ErrUnexpectedEOF) {
				end = "unexpected EOF"
			}
		}
		return view{r.Status, r.StatusCode, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Header, r.Trailer,
			r.ContentLength, r.Close, r.TransferEncoding, string(b), end, r.Body == http.NoBody}
	}
	if f, s := v(fast), v(std); !reflect.DeepEqual(f, s) {
		t.Fatalf("fastHead and net/http differ:\n fast %+v\n std  %+v", f, s)
	}
}

func TestFastHead(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		method     string
		fast       bool // fastHead takes it
	}{
		{"plain answer", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", "GET", true},
		{"no reason phrase", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"lower-case names, padded values, duplicates", "HTTP/1.1 200 OK\r\ncontent-length:  3 \r\nset-cookie: a=1\r\nSet-Cookie:\tb=2\t\r\nx-empty:\r\n\r\nabc", "GET", true},
		{"names repeated three times, interleaved", "HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nX-A: 1\r\nContent-Length: 0\r\nSET-COOKIE: b=2\r\nx-a: 2\r\nSet-Cookie: c=3\r\n\r\n", "GET", true},
		{"Connection: close is removed and closes", "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok", "POST", true},
		{"body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "GET", true},
		{"bytes past the body stay unread", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n", "GET", true},
		{"chunked: net/http's", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", "GET", false},
		{"no length: net/http's", "HTTP/1.1 200 OK\r\n\r\nto the close", "GET", false},
		{"two lengths: net/http's", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", "GET", false},
		{"HTTP/1.0: net/http's", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET", false},
		{"HEAD: net/http's", "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", "HEAD", false},
		{"204: net/http's", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"304: net/http's", "HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n", "GET", false},
		{"1xx: net/http's", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", "GET", false},
		{"bare LF: net/http's", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", "GET", false},
		{"folded line: net/http's", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok", "GET", false},
		{"space before colon: net/http's", "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", "GET", false},
		{"obs-text value: net/http's", "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok", "GET", false},
		{"Pragma: net/http's", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 2\r\n\r\nok", "GET", false},
		{"Trailer: net/http's", "HTTP/1.1 200 OK\r\nTrailer: X\r\nContent-Length: 2\r\n\r\nok", "GET", false},
		{"signed length: net/http's", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", "GET", false},
		{"status not three digits: net/http's", "HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok", "GET", false},
		{"head not all buffered: net/http's", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", "GET", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast, std, err := parseBoth(t, []byte(tc.head), tc.method)
			if (fast != nil) != tc.fast {
				t.Fatalf("fastHead took it: %v, want %v", fast != nil, tc.fast)
			}
			if fast != nil {
				sameResponse(t, fast, std, err)
			}
		})
	}
}

// FuzzFastHead: whatever head fastHead accepts, net/http reads the same
// response from the same bytes.
func FuzzFastHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\ncontent-length:  3 \r\nset-cookie: a=1\r\nSet-Cookie:\tb=2\t\r\n\r\nabc",
		"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, post bool) {
		method := "GET"
		if post {
			method = "POST"
		}
		fast, std, err := parseBoth(t, data, method)
		if fast != nil {
			sameResponse(t, fast, std, err)
		}
	})
}

func BenchmarkReadHead(b *testing.B) {
	head := []byte("HTTP/1.1 200 OK\r\nCache-Control: public, max-age=300\r\nContent-Length: 1024\r\n" +
		"Content-Type: application/octet-stream\r\nDate: Tue, 01 Dec 2026 11:52:27 GMT\r\n\r\n")
	req, _ := http.NewRequest("GET", "http://backend/", nil)
	for _, tc := range []struct {
		name string
		read func(*bufio.Reader) *http.Response
	}{
		{"fastHead", func(br *bufio.Reader) *http.Response { return fastHead(br, req) }},
		{"ReadResponse", func(br *bufio.Reader) *http.Response { r, _ := http.ReadResponse(br, req); return r }},
		// What a connection does with a head: fill the buffer, then parse
		// (scanHead first, for any head fastHead would not take).
		{"readHead", func(br *bufio.Reader) *http.Response { r, _ := (&conn{br: br}).readHead(req); return r }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rd := bytes.NewReader(head)
			br := bufio.NewReaderSize(rd, 4096)
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(head)
				br.Reset(rd)
				if tc.name != "readHead" {
					br.Peek(len(head))
				}
				if tc.read(br) == nil {
					b.Fatal("not parsed")
				}
			}
		})
	}
}
