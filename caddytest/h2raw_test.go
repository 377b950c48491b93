package caddytest

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The raw HTTP/2 client of attack_h2down_test.go: it speaks HTTP/2 frame
// by frame (x/net's Framer, an hpack encoder that writes any name and
// value) so it can send what every client library refuses to: upper-case
// or control bytes in fields, repeated or misplaced pseudo-headers,
// content-length that disagrees with the DATA frames, resets mid-body. It
// decodes the answers without validating them, so a test sees exactly
// what the proxy put on the wire.

// Where the downgrade tests' server listens: h2c (prior knowledge) and
// h1 on one port, h2 over TLS (ALPN) on the other.
const (
	h2cAddr = "127.0.0.1:22380"
	h2tAddr = "127.0.0.1:22343"
)

// h2Reply is what one stream got back.
type h2Reply struct {
	Status  int
	Fields  []hpack.HeaderField // every response field, pseudo ones too, as decoded
	Body    []byte
	Trailer []hpack.HeaderField
	Reset   http2.ErrCode // RST_STREAM's code, when the stream was reset
	WasRst  bool
	Done    bool // END_STREAM or RST_STREAM seen
	Ended   bool // END_STREAM seen: the answer came whole
}

// field returns the values of the response field name (lower case).
func (r *h2Reply) field(name string) []string {
	var out []string
	for _, f := range r.Fields {
		if f.Name == name {
			out = append(out, f.Value)
		}
	}
	return out
}

// refused reports whether the stream was refused: reset, or answered 4xx.
func (r *h2Reply) refused() bool {
	return r.WasRst || r.Status >= 400 && r.Status < 500
}

// h2Client is one raw HTTP/2 connection to the proxy.
type h2Client struct {
	t  *testing.T
	nc net.Conn
	fr *http2.Framer

	wmu  sync.Mutex // frame writes
	hbuf bytes.Buffer
	henc *hpack.Encoder
	hdec *hpack.Decoder

	replies map[uint32]*h2Reply
	cur     *h2Reply // the reply whose header block is being decoded
	inTrail bool
	goAway  *http2.GoAwayFrame
	readErr error
}

// dialH2 opens an HTTP/2 connection to the proxy: over TLS with ALPN h2
// when tlsOn, else h2c with prior knowledge. It sends the preface and the
// client's SETTINGS; the connection closes with the test.
func dialH2(t *testing.T, tlsOn bool) *h2Client {
	t.Helper()
	var nc net.Conn
	var err error
	if tlsOn {
		nc, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", h2tAddr,
			&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) // the test's own CA
		if err == nil && nc.(*tls.Conn).ConnectionState().NegotiatedProtocol != "h2" {
			t.Fatalf("ALPN: %q, want h2", nc.(*tls.Conn).ConnectionState().NegotiatedProtocol)
		}
	} else {
		nc, err = net.DialTimeout("tcp", h2cAddr, 5*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &h2Client{t: t, nc: nc, fr: http2.NewFramer(nc, nc), replies: map[uint32]*h2Reply{}}
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.hdec = hpack.NewDecoder(64<<10, c.emit)
	c.hdec.SetMaxStringLength(1 << 20)
	if _, err := io.WriteString(nc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	c.fr.WriteWindowUpdate(0, 1<<24)
	return c
}

func (c *h2Client) emit(f hpack.HeaderField) {
	r := c.cur
	if c.inTrail {
		r.Trailer = append(r.Trailer, f)
		return
	}
	r.Fields = append(r.Fields, f)
	if f.Name == ":status" {
		// An interim (1xx) answer is followed by the final one.
		r.Status, _ = strconv.Atoi(f.Value)
	}
}

// hf is a header field to send, exactly as given: name and value go on
// the wire unchecked, in this order.
type hf [2]string

// headers sends one HEADERS frame on stream id holding fields.
func (c *h2Client) headers(id uint32, endStream bool, fields ...hf) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.hbuf.Reset()
	for _, f := range fields {
		c.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(),
		EndStream: endStream, EndHeaders: true}); err != nil {
		c.t.Logf("writing HEADERS: %v", err)
	}
}

// request sends a request's HEADERS: the usual pseudo-headers for method
// and path (scheme http, authority "h2.test") and then extra; with
// endStream when it has no body.
func (c *h2Client) request(id uint32, method, path string, endStream bool, extra ...hf) {
	c.t.Helper()
	c.headers(id, endStream, append([]hf{{":method", method}, {":scheme", "http"},
		{":authority", "h2.test"}, {":path", path}}, extra...)...)
}

// data sends one DATA frame.
func (c *h2Client) data(id uint32, p string, endStream bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.fr.WriteData(id, endStream, []byte(p)); err != nil {
		c.t.Logf("writing DATA: %v", err)
	}
}

// reset sends RST_STREAM(CANCEL) on stream id.
func (c *h2Client) reset(id uint32) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.fr.WriteRSTStream(id, http2.ErrCodeCancel)
}

// await reads frames until every stream in ids is done (or the connection
// ends, or 10 s pass) and returns their replies.
func (c *h2Client) await(ids ...uint32) map[uint32]*h2Reply {
	c.t.Helper()
	for _, id := range ids {
		if c.replies[id] == nil {
			c.replies[id] = &h2Reply{}
		}
	}
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.nc.SetReadDeadline(time.Time{})
	for c.readErr == nil && !c.allDone(ids) {
		c.readErr = c.readFrame()
	}
	out := make(map[uint32]*h2Reply, len(ids))
	for _, id := range ids {
		out[id] = c.replies[id]
	}
	return out
}

// readUntil reads frames until stream id has at least n bytes of body (or
// is done, or the connection ends, or 10 s pass) and reports whether it has
// them. Every DATA frame read is acknowledged in WINDOW_UPDATEs, so the
// server may send about the initial window more before it blocks.
func (c *h2Client) readUntil(id uint32, n int) bool {
	c.t.Helper()
	r := c.reply(id)
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.nc.SetReadDeadline(time.Time{})
	for c.readErr == nil && !r.Done && len(r.Body) < n {
		c.readErr = c.readFrame()
	}
	return len(r.Body) >= n
}

// one sends nothing more and awaits stream id alone.
func (c *h2Client) one(id uint32) *h2Reply { return c.await(id)[id] }

func (c *h2Client) allDone(ids []uint32) bool {
	if c.goAway != nil {
		// Streams above the last one the server processed never will be.
		for _, id := range ids {
			if !c.replies[id].Done && id <= c.goAway.LastStreamID {
				return false
			}
		}
		return true
	}
	for _, id := range ids {
		if !c.replies[id].Done {
			return false
		}
	}
	return true
}

func (c *h2Client) reply(id uint32) *h2Reply {
	r := c.replies[id]
	if r == nil {
		r = &h2Reply{}
		c.replies[id] = r
	}
	return r
}

func (c *h2Client) readFrame() error {
	f, err := c.fr.ReadFrame()
	if err != nil {
		return err
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			c.wmu.Lock()
			c.fr.WriteSettingsAck()
			c.wmu.Unlock()
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			c.wmu.Lock()
			c.fr.WritePing(true, f.Data)
			c.wmu.Unlock()
		}
	case *http2.GoAwayFrame:
		c.goAway = f
	case *http2.RSTStreamFrame:
		r := c.reply(f.StreamID)
		r.Reset, r.WasRst, r.Done = f.ErrCode, true, true
	case *http2.HeadersFrame:
		r := c.reply(f.StreamID)
		c.cur, c.inTrail = r, r.Status >= 200
		if _, err := c.hdec.Write(f.HeaderBlockFragment()); err != nil {
			return err
		}
		if f.HeadersEnded() {
			c.hdec.Close()
		}
		if f.StreamEnded() {
			r.Done, r.Ended = true, true
		}
	case *http2.ContinuationFrame:
		if _, err := c.hdec.Write(f.HeaderBlockFragment()); err != nil {
			return err
		}
		if f.HeadersEnded() {
			c.hdec.Close()
		}
	case *http2.DataFrame:
		r := c.reply(f.StreamID)
		r.Body = append(r.Body, f.Data()...)
		if n := len(f.Data()); n > 0 {
			c.wmu.Lock()
			c.fr.WriteWindowUpdate(0, uint32(n))
			c.fr.WriteWindowUpdate(f.StreamID, uint32(n))
			c.wmu.Unlock()
		}
		if f.StreamEnded() {
			r.Done, r.Ended = true, true
		}
	}
	return nil
}

// alive reports whether the connection still serves a request: a GET on
// the fresh stream id answered by the backend.
func (c *h2Client) alive(id uint32) bool {
	c.t.Helper()
	c.request(id, "GET", "/alive", true)
	r := c.one(id)
	return r.Status == 200 && string(r.Body) == "path:/alive"
}

// describe renders a reply for a failure message.
func (r *h2Reply) String() string {
	if r == nil {
		return "<nothing>"
	}
	var sb strings.Builder
	if r.WasRst {
		sb.WriteString("RST_STREAM " + r.Reset.String() + " ")
	}
	for _, f := range r.Fields {
		sb.WriteString(f.Name + ": " + strconv.Quote(f.Value) + " ")
	}
	sb.WriteString("body " + strconv.Quote(string(r.Body)))
	return sb.String()
}
