package h1

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A bodiless request whose head the backend does not read (a hung
// process, whose kernel still accepts, or a hostile backend) blocks in its
// write once the head outgrows the socket buffers; no read deadline bounds
// that write. The client leaving must still end the exchange and close the
// connection: the transport starts watching the context before a write
// that may block, as it does for a request with a body.
func TestContextEndWakesBlockedHeadWrite(t *testing.T) {
	accepted, stop := make(chan struct{}, 1), make(chan struct{})
	rs := newRawServer(t, func(_ int, c net.Conn) {
		accepted <- struct{}{}
		<-stop // never reads a byte
	})
	t.Cleanup(func() { close(stop) }) // runs before rs's cleanup
	tr := New(Config{})
	tr.abortCheck = time.Hour // only a watcher can notice in time
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := mustReq(t, ctx, http.MethodGet, rs.url(), nil)
	v := strings.Repeat("a", 8<<10)
	for i := 0; i < 1024; i++ { // 8 MiB of head: past any loopback buffer
		req.Header.Add("X-Big", v)
	}
	done := roundTripAsync(tr, req)
	<-accepted
	time.Sleep(50 * time.Millisecond) // let the write fill the buffers and block
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client's leaving did not end a head write the backend does not read")
	}
}
