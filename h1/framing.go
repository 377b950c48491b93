package h1

import (
	"bufio"
	"bytes"
	"net/http"
)

// headScan is what a response head says about its framing before
// http.ReadResponse folds it away: ReadResponse merges Content-Length
// fields that agree and drops Content-Length when Transfer-Encoding is
// present, and ignores Transfer-Encoding in HTTP/1.0, so none of these can
// be told from the parsed response.
type headScan struct {
	complete bool // the whole head was in the read buffer and was scanned
	lengths  int  // Content-Length field lines
	codings  int  // Transfer-Encoding field lines
}

// fastScan is what scanHead finds in every head fastHead parses: whole,
// with one Content-Length and no Transfer-Encoding.
var fastScan = headScan{complete: true, lengths: 1}

// scanHead waits until the next response head is buffered whole (or the
// buffer is full, or reading fails) and counts its framing fields, reading
// the lines as net/textproto does: LF or CRLF ends a line, a line that
// starts with SP or HTAB continues the field before it (obs-fold), an
// empty line ends the head. It consumes nothing: http.ReadResponse then
// parses the same bytes, and meets any read error again itself.
func scanHead(br *bufio.Reader) headScan {
	var s headScan
	off := 0 // start of the first line not yet scanned
	status := true
	for {
		n := br.Buffered()
		buf, _ := br.Peek(n)
		for {
			i := bytes.IndexByte(buf[off:], '\n')
			if i < 0 {
				break
			}
			line := buf[off : off+i]
			off += i + 1
			if k := len(line); k > 0 && line[k-1] == '\r' {
				line = line[:k-1]
			}
			switch {
			case status:
				status = false
			case len(line) == 0:
				s.complete = true
				return s
			case line[0] == ' ' || line[0] == '\t':
				// Continues the previous field.
			default:
				name := line
				if j := bytes.IndexByte(line, ':'); j >= 0 {
					name = line[:j]
				}
				if asciiEqualFold(name, "content-length") {
					s.lengths++
				} else if asciiEqualFold(name, "transfer-encoding") {
					s.codings++
				}
			}
		}
		if n == br.Size() {
			return s // a head larger than the buffer: not scanned whole
		}
		if _, err := br.Peek(n + 1); err != nil {
			return s
		}
	}
}

// ambiguous reports whether resp, parsed from the head s describes, may
// be delivered but must not leave its connection fit for another
// exchange, because another reader could frame it differently (RFC 9112
// §6.1, §6.3) or because its head could not be checked.
func (s headScan) ambiguous(resp *http.Response) bool {
	http10 := !resp.ProtoAtLeast(1, 1)
	if !s.complete {
		// Only the two cases below could hide in an unscanned head.
		return http10 || len(resp.TransferEncoding) > 0
	}
	switch {
	case s.codings > 0 && s.lengths > 0: // chunked won; was the length meant?
		return true
	case s.codings > 0 && http10: // HTTP/1.0 ignores Transfer-Encoding
		return true
	case s.lengths > 1: // duplicates that agree
		return true
	}
	return false
}

// asciiEqualFold reports whether b equals the lower-case ASCII s, ignoring
// case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
