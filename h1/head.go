package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The common response head, parsed in place. http.ReadResponse allocates a
// dozen objects per response (a textproto reader, a string per line and
// per value, the transfer reader, the body and its LimitReader); a plain
// answer needs three: one string holding the whole head, which keys,
// values and the status share, the header map (two allocations of the
// runtime's), and one fastResponse holding the Response, its body, the
// connection's wrapper of it and the values. fastHead parses only heads whose reading
// leaves nothing to interpret, and hands every other one to
// http.ReadResponse, so the framing decision is always net/http's:
//
//   - the status line is "HTTP/1.1 NNN reason" with a final status other
//     than 204 and 304, to a request other than HEAD;
//   - every line ends in CRLF; no line folds; every name is a token and
//     every value visible ASCII, SP or HTAB;
//   - exactly one Content-Length, all digits, and no Transfer-Encoding,
//     Trailer or Pragma.
//
// FuzzFastHead holds it to http.ReadResponse: on every input it accepts,
// the response (status, fields, length, close, body) is the same.

// maxFastFields bounds the fields of a head parsed in place.
const maxFastFields = 64

// fastHead parses the buffered head br begins with, the answer to req, or
// returns nil (nothing consumed) when http.ReadResponse must read it.
func fastHead(br *bufio.Reader, req *http.Request) *http.Response {
	if req.Method == http.MethodHead {
		return nil
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return nil
	}
	head := buf[:end+2] // each line with its CRLF
	// Status line.
	const proto = "HTTP/1.1 "
	i := bytes.Index(head, []byte("\r\n"))
	line := head[:i]
	if len(line) < len(proto)+3 || string(line[:len(proto)]) != proto {
		return nil
	}
	code := 0
	for _, c := range line[len(proto) : len(proto)+3] {
		if c < '0' || c > '9' {
			return nil
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil
	}
	if rest := line[len(proto)+3:]; len(rest) > 0 && (rest[0] != ' ' || !visible(rest[1:])) {
		return nil
	}
	// Fields: count them, check them, find the framing ones, and note
	// where each name and trimmed value lie, so that building the
	// response scans nothing again.
	var cuts [maxFastFields]fieldCut
	n, length := 0, int64(-1)
	for off := i + 2; off < len(head); n++ {
		j := bytes.Index(head[off:], []byte("\r\n"))
		l := head[off : off+j]
		k := bytes.IndexByte(l, ':')
		if k <= 0 || n == maxFastFields || !token(l[:k]) || !visible(l[k+1:]) {
			return nil
		}
		vs, ve := k+1, len(l)
		for vs < ve && (l[vs] == ' ' || l[vs] == '\t') {
			vs++
		}
		for ve > vs && (l[ve-1] == ' ' || l[ve-1] == '\t') {
			ve--
		}
		switch {
		case asciiEqualFold(l[:k], "content-length"):
			if length >= 0 {
				return nil
			}
			if length = digits(l[vs:ve]); length < 0 {
				return nil
			}
		case asciiEqualFold(l[:k], "transfer-encoding"), asciiEqualFold(l[:k], "trailer"),
			asciiEqualFold(l[:k], "pragma"):
			return nil
		}
		cuts[n] = fieldCut{name: int32(off), colon: int32(off + k), value: int32(off + vs), end: int32(off + ve)}
		off += j + 2
	}
	if length < 0 {
		return nil
	}
	// Build the response over one string.
	s := string(head)
	hdr := make(http.Header, n)
	fr := new(fastResponse)
	values := fr.values[:]
	if n > len(values) {
		values = make([]string, n)
	}
	for f, c := range cuts[:n] {
		key := textproto.CanonicalMIMEHeaderKey(s[c.name:c.colon])
		values[f] = s[c.value:c.end] // a substring of s
		// Assigned without a lookup first (one map operation per field,
		// not two): a repeated name shows as a map that did not grow, and
		// its values are gathered again from the fields before.
		had := len(hdr)
		hdr[key] = values[f : f+1 : f+1]
		if len(hdr) == had {
			hdr[key] = repeated(s, cuts[:f+1], values, key)
		}
	}
	resp := &fr.resp
	*resp = http.Response{
		Status:     s[len(proto):i],
		StatusCode: code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     hdr,
		Request:    req,
	}
	if httpguts.HeaderValuesContainsToken(hdr["Connection"], "close") {
		resp.Close = true
		delete(hdr, "Connection")
	}
	resp.ContentLength = length
	br.Discard(len(head) + 2)
	if length == 0 {
		resp.Body = http.NoBody
	} else {
		fr.body = lengthBody{br: br, n: length, wrap: &fr.wrap}
		resp.Body = &fr.body
	}
	return resp
}

// repeated returns the values, in order, of the fields among cuts named
// key (compared as HTTP compares names: without case); values holds theirs.
func repeated(s string, cuts []fieldCut, values []string, key string) []string {
	var vv []string
	for g, c := range cuts {
		if strings.EqualFold(s[c.name:c.colon], key) {
			vv = append(vv, values[g])
		}
	}
	return vv
}

// fastResponse is what fastHead allocates for a response, in one object:
// the Response, its body, the connection's wrapper of that body (which
// finish takes), and the values of a head of up to fastValues fields.
// None of it is pooled: the caller owns the Response and may hold it, or
// close its body, after the connection has moved on.
type fastResponse struct {
	resp   http.Response
	body   lengthBody
	wrap   body
	values [fastValues]string
}

// fieldCut locates one field of a head: its name is head[name:colon], its
// value, trimmed of SP and HTAB, head[value:end].
type fieldCut struct{ name, colon, value, end int32 }

// fastValues is how many field values a fastResponse holds in place: a
// typical answer has fewer; more take one allocation of their own.
const fastValues = 8

// lengthBody reads a body framed by Content-Length as net/http's does: EOF
// with the last byte, io.ErrUnexpectedEOF if the stream ends before it.
type lengthBody struct {
	br *bufio.Reader
	n  int64
	// wrap is the wrapper allocated with this body, for finish to take
	// (once); nil once taken.
	wrap *body
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	m, err := b.br.Read(p)
	b.n -= int64(m)
	switch {
	case err == io.EOF && b.n > 0:
		err = io.ErrUnexpectedEOF
	case err == nil && b.n == 0:
		err = io.EOF
	}
	return m, err
}

// Close does nothing: h1's body wrapper decides the connection's fate.
func (b *lengthBody) Close() error { return nil }

// token reports whether b is a non-empty HTTP token.
func token(b []byte) bool {
	for _, c := range b {
		if !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	return len(b) > 0
}

// visible reports whether b holds only visible ASCII, SP and HTAB.
func visible(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\t') || c > 0x7e {
			return false
		}
	}
	return true
}

// digits parses a non-empty run of at most 18 decimal digits; -1 if b is
// anything else.
func digits(b []byte) int64 {
	if len(b) == 0 || len(b) > 18 {
		return -1
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
