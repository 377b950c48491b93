package caddytest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/quicvarint"
)

// The raw HTTP/3 client of the attack_h3*_test.go tests: a QUIC connection
// (ALPN h3) with the client's control stream and its SETTINGS, and
// request streams on which a test writes exactly the frames it wants:
// HEADERS whose QPACK field lines hold any name and value (the encoder
// checks none), DATA, trailers, a FIN or a reset where it likes. It reads
// the answer's frames back without validating them, so a test sees what
// the proxy put on the wire. Every stream's reading is bounded in time.

// Where the HTTP/3 attack tests' server listens (UDP for HTTP/3, TCP for
// the HTTP/1.1 and HTTP/2 it serves beside it).
const h3rAddr = "127.0.0.1:22443"

// HTTP/3 frame and stream types (RFC 9114 §7.2, §6.2).
const (
	h3FrameData     = 0x0
	h3FrameHeaders  = 0x1
	h3FrameSettings = 0x4
	h3StreamControl = 0x0
)

// HTTP/3 error codes the tests send or expect (RFC 9114 §8.1).
const (
	h3ErrMessage          = 0x10e // H3_MESSAGE_ERROR
	h3ErrRequestCancelled = 0x10c // H3_REQUEST_CANCELLED
)

// startH3Raw serves route over HTTP/3 (and HTTP/1.1 and HTTP/2 over TLS)
// on h3rAddr, with a certificate for h3.test from a CA made for the test.
func startH3Raw(t *testing.T, route map[string]any) {
	t.Helper()
	ca := newTestCA(t, "h3raw-ca")
	_, certFile, keyFile := ca.issue(t, false, []string{"h3.test"}, net.ParseIP("127.0.0.1"))
	srv := plainServer(h3rAddr, route)
	srv["protocols"] = []string{"h1", "h2", "h3"}
	srv["tls_connection_policies"] = []map[string]any{{}}
	startConfig(t, map[string]any{"http_port": 22480, "https_port": 22443, "servers": map[string]any{"sp": srv}},
		map[string]any{"tls": map[string]any{"certificates": map[string]any{
			"load_files": []map[string]any{{"certificate": certFile, "key": keyFile}}}}})
}

// h3Reply is what one request stream got back.
type h3Reply struct {
	Status  int                 // the final status; 0 when none came
	Fields  []qpack.HeaderField // every field of every HEADERS before the body, pseudo ones too
	Body    []byte
	Trailer []qpack.HeaderField
	Reset   bool                 // the server reset the stream
	Code    quic.StreamErrorCode // and its code
	Ended   bool                 // the stream ended with a FIN: the answer came whole
	Err     error                // what ended reading other than a FIN or a reset
}

// field returns the values of the response field name (lower case).
func (r *h3Reply) field(name string) []string {
	var out []string
	for _, f := range r.Fields {
		if f.Name == name {
			out = append(out, f.Value)
		}
	}
	return out
}

func (r *h3Reply) String() string {
	if r == nil {
		return "<nothing>"
	}
	var sb strings.Builder
	if r.Reset {
		sb.WriteString("RESET 0x" + strconv.FormatUint(uint64(r.Code), 16) + " ")
	}
	if r.Err != nil {
		sb.WriteString("error " + strconv.Quote(r.Err.Error()) + " ")
	}
	for _, f := range r.Fields {
		sb.WriteString(f.Name + ": " + strconv.Quote(f.Value) + " ")
	}
	sb.WriteString("body " + strconv.Quote(truncateBody(r.Body)))
	return sb.String()
}

func truncateBody(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…(" + strconv.Itoa(len(b)) + " bytes)"
	}
	return string(b)
}

// h3Client is one raw HTTP/3 connection to the proxy.
type h3Client struct {
	t    *testing.T
	conn *quic.Conn
}

// dialH3 opens a QUIC connection to h3rAddr with ALPN h3 and sends the
// control stream's SETTINGS (none set: the defaults); the connection
// closes with the test.
func dialH3(t *testing.T) *h3Client {
	t.Helper()
	return dialH3Config(t, &quic.Config{})
}

// dialH3Config is dialH3 with QUIC's settings from qc (flow control
// windows, say); its idle timeout is 20 s.
func dialH3Config(t *testing.T, qc *quic.Config) *h3Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qc.MaxIdleTimeout = 20 * time.Second
	conn, err := quic.DialAddr(ctx, h3rAddr, &tls.Config{InsecureSkipVerify: true, // the test's own CA
		ServerName: "h3.test", NextProtos: []string{"h3"}}, qc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	ctl, err := conn.OpenUniStream()
	if err != nil {
		t.Fatal(err)
	}
	b := quicvarint.Append(nil, h3StreamControl)
	b = appendFrame(b, h3FrameSettings, nil)
	if _, err := ctl.Write(b); err != nil {
		t.Fatal(err)
	}
	return &h3Client{t: t, conn: conn}
}

// closed reports whether the server closed the connection.
func (c *h3Client) closed() bool { return c.conn.Context().Err() != nil }

func appendFrame(b []byte, typ uint64, payload []byte) []byte {
	b = quicvarint.Append(b, typ)
	b = quicvarint.Append(b, uint64(len(payload)))
	return append(b, payload...)
}

// encodeFields is a QPACK field section (static table and literals only)
// holding fields exactly as given, in this order.
func encodeFields(fields []hf) []byte {
	var buf bytes.Buffer
	enc := qpack.NewEncoder(&buf)
	for _, f := range fields {
		enc.WriteField(qpack.HeaderField{Name: f[0], Value: f[1]})
	}
	enc.Close()
	return buf.Bytes()
}

// h3Stream is one request stream.
type h3Stream struct {
	c *h3Client
	s *quic.Stream
}

// open opens a request stream.
func (c *h3Client) open() *h3Stream {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.conn.OpenStreamSync(ctx)
	if err != nil {
		c.t.Fatalf("opening a stream: %v", err)
	}
	return &h3Stream{c: c, s: s}
}

// frame writes one frame of any type; errors are logged (the server may
// have reset the stream already).
func (s *h3Stream) frame(typ uint64, payload []byte) {
	if _, err := s.s.Write(appendFrame(nil, typ, payload)); err != nil {
		s.c.t.Logf("writing frame 0x%x: %v", typ, err)
	}
}

// headers writes one HEADERS frame holding fields.
func (s *h3Stream) headers(fields ...hf) { s.frame(h3FrameHeaders, encodeFields(fields)) }

// data writes one DATA frame.
func (s *h3Stream) data(p string) { s.frame(h3FrameData, []byte(p)) }

// fin ends the request (the stream's send side).
func (s *h3Stream) fin() { s.s.Close() }

// reset resets the request's send side and stops reading the answer.
func (s *h3Stream) reset() {
	s.s.CancelWrite(h3ErrRequestCancelled)
	s.s.CancelRead(h3ErrRequestCancelled)
}

// send writes a whole request: HEADERS, the DATA frames, the trailer
// block when there is one, and the FIN.
func (s *h3Stream) send(fields []hf, data []string, trailer []hf) *h3Stream {
	s.headers(fields...)
	for _, d := range data {
		s.data(d)
	}
	if trailer != nil {
		s.headers(trailer...)
	}
	s.fin()
	return s
}

// read reads the answer to its end (a FIN, a reset, or 10 s).
func (s *h3Stream) read() *h3Reply {
	r := &h3Reply{}
	s.s.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := quicvarint.NewReader(s.s)
	for {
		err := s.readFrame(br, r)
		if err == nil {
			continue
		}
		var se *quic.StreamError
		switch {
		case err == io.EOF:
			r.Ended = true
		case errors.As(err, &se):
			r.Reset, r.Code = true, se.ErrorCode
		default:
			r.Err = err
		}
		return r
	}
}

func (s *h3Stream) readFrame(br quicvarint.Reader, r *h3Reply) error {
	typ, err := quicvarint.Read(br)
	if err != nil {
		return err
	}
	n, err := quicvarint.Read(br)
	if err != nil {
		return unexpected(err)
	}
	if n > 4<<20 {
		return errors.New("frame of " + strconv.FormatUint(n, 10) + " bytes")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return unexpected(err)
	}
	switch typ {
	case h3FrameData:
		r.Body = append(r.Body, p...)
	case h3FrameHeaders:
		dec := qpack.NewDecoder().Decode(p)
		var block []qpack.HeaderField
		for {
			f, err := dec()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			block = append(block, f)
		}
		if r.Status >= 200 {
			r.Trailer = append(r.Trailer, block...)
			return nil
		}
		r.Fields = append(r.Fields, block...)
		for _, f := range block {
			if f.Name == ":status" {
				if st, _ := strconv.Atoi(f.Value); st >= 200 {
					r.Status = st // an interim answer is followed by the final one
				}
			}
		}
	}
	// Frames of other (reserved, unknown) types are skipped.
	return nil
}

// unexpected turns an EOF inside a frame into an error of its own.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// get sends a bodiless request on a new stream and reads its answer.
func (c *h3Client) get(fields ...hf) *h3Reply {
	return c.open().send(fields, nil, nil).read()
}

// h3req is the pseudo-headers of a request for path (scheme https,
// authority h3.test), then extra.
func h3req(method, path string, extra ...hf) []hf {
	return append([]hf{{":method", method}, {":scheme", "https"}, {":authority", "h3.test"}, {":path", path}}, extra...)
}

// alive reports whether the connection still serves a request: a GET the
// backend answers.
func (c *h3Client) alive() bool {
	c.t.Helper()
	r := c.get(h3req("GET", "/alive")...)
	return r.Status == 200 && string(r.Body) == "path:/alive"
}
