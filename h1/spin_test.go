package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestSpinnerGate(t *testing.T) {
	if newSpinner(0) != nil {
		t.Error("SpinWait 0 made a spinner")
	}
	prev := runtime.GOMAXPROCS(1)
	one := newSpinner(time.Millisecond)
	runtime.GOMAXPROCS(prev)
	if one != nil {
		t.Error("GOMAXPROCS 1 made a spinner: polling would hold the only processor")
	}
	var none *spinner
	if m := none.waitStart(&hostPool{}); m != waitBusy {
		t.Errorf("a nil spinner said %d", m)
	}
	none.waitEnd(&hostPool{}, waitPoll, time.Millisecond) // must not panic

	const limit = 100 * time.Microsecond
	s := &spinner{limit: limit}
	hp := &hostPool{}
	// sequential runs n exchanges one after another; each waits polled or
	// blocked as its mode says, and it counts the modes.
	sequential := func(h *hostPool, n int, polled, blocked time.Duration) map[waitMode]int {
		seen := map[waitMode]int{}
		for range n {
			m := s.waitStart(h)
			seen[m]++
			w := blocked
			if m == waitPoll {
				w = polled
			}
			s.waitEnd(h, m, w)
		}
		return seen
	}
	// Nothing is tried before the load has been sequential for a while.
	if seen := sequential(hp, calmExchanges, 0, 0); seen[waitBusy] != calmExchanges {
		t.Fatalf("first %d exchanges: %v, want all busy", calmExchanges, seen)
	}
	// Polling pays here (40 µs against 80 µs): almost every exchange
	// polls, one in probeEvery blocks to keep that figure current.
	seen := sequential(hp, 10*probeEvery, 40*time.Microsecond, 80*time.Microsecond)
	if seen[waitPoll] < 9*probeEvery || seen[waitBlock] < 9 || seen[waitBusy] != 0 {
		t.Errorf("polling faster: %v, want mostly polls and a probe in %d blocking", seen, probeEvery)
	}
	// Two awaiting at once: neither polls, and nothing is tried until the
	// load is sequential again for calmExchanges.
	a, b := s.waitStart(hp), s.waitStart(hp)
	if b != waitBusy {
		t.Errorf("a second awaiting exchange got mode %d, want busy", b)
	}
	s.waitEnd(hp, a, 40*time.Microsecond)
	s.waitEnd(hp, b, 40*time.Microsecond)
	if n := s.awaiting.Load(); n != 0 {
		t.Fatalf("awaiting = %d after both ended, want 0", n)
	}
	if seen := sequential(hp, calmExchanges, 0, 0); seen[waitBusy] != calmExchanges {
		t.Errorf("right after an overlap: %v, want all %d busy", seen, calmExchanges)
	}
	// One outlier cannot swing the comparison: a 2 ms blocking wait among
	// 80 µs ones counts as 400 µs.
	s.waitStart(hp)
	s.waitEnd(hp, waitBlock, 2*time.Millisecond)
	if got := time.Duration(hp.waitBlocked.Load()); got > 150*time.Microsecond {
		t.Errorf("one 2ms outlier moved the blocking figure to %v", got)
	}
	// Polling turns out slower (a backend in the same process): the
	// exchanges switch to blocking, probing polling now and then.
	seen = sequential(hp, 20*probeEvery, 150*time.Microsecond, 20*time.Microsecond)
	late := sequential(hp, 10*probeEvery, 150*time.Microsecond, 20*time.Microsecond)
	if late[waitBlock] < 9*probeEvery || late[waitPoll] < 9 {
		t.Errorf("polling slower: %v (earlier %v), want mostly blocking and a probe in %d polling", late, seen, probeEvery)
	}
	// A host whose blocking waits are beyond 2×limit is never polled for.
	slow := &hostPool{}
	seen = sequential(slow, 20*probeEvery, 5*time.Millisecond, 5*time.Millisecond)
	// Recorded waits are clamped to sampleClamp × limit.
	if got, want := time.Duration(slow.waitBlocked.Load()), sampleClamp*limit; got != want {
		t.Errorf("smoothed blocking wait %v after waits of 5ms, want the clamp %v", got, want)
	}
	if seen[waitPoll] > 1 {
		t.Errorf("a host answering in 5ms was polled for %d times with a %v limit", seen[waitPoll], limit)
	}
}

// pollConn returns a transport connection to a raw server whose side of
// the connection the test drives.
func pollConn(t *testing.T) (*conn, net.Conn) {
	t.Helper()
	peer := make(chan net.Conn, 1)
	done := make(chan struct{})
	rs := newRawServer(t, func(_ int, c net.Conn) {
		peer <- c
		<-done
	})
	t.Cleanup(func() { close(done) })
	tr := New(Config{})
	t.Cleanup(func() { tr.Close() })
	c, err := tr.dialConn(context.Background(), tr.hostPool(rs.ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	if c.raw == nil {
		t.Skip("no raw socket access on this platform")
	}
	select {
	case p := <-peer:
		return c, p
	case <-time.After(waitFor):
		t.Fatal("server never accepted")
	}
	return nil, nil
}

func TestPoll(t *testing.T) {
	c, peer := pollConn(t)

	// Nothing arrives: poll gives up after its limit.
	start := time.Now()
	if c.poll(5 * time.Millisecond) {
		t.Fatal("poll reported data on a silent connection")
	}
	if el := time.Since(start); el < 5*time.Millisecond {
		t.Errorf("poll gave up after %v, before its 5ms limit", el)
	}

	// Data arrives while polling: poll returns at once and consumes nothing.
	go func() {
		time.Sleep(2 * time.Millisecond)
		io.WriteString(peer, "hello")
	}()
	if !c.poll(waitFor) {
		t.Fatal("poll missed data written while it polled")
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c.br, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read after poll: %q, %v; want all of \"hello\"", buf, err)
	}

	// Buffered bytes count without a system call.
	io.WriteString(peer, "ab")
	if b, err := c.br.ReadByte(); err != nil || b != 'a' {
		t.Fatalf("ReadByte: %q, %v", b, err)
	}
	if !c.poll(0) {
		t.Error("poll ignored a byte already buffered")
	}
	c.br.ReadByte()

	// The peer closing is something to read (EOF): poll returns.
	peer.Close()
	if !c.poll(waitFor) {
		t.Fatal("poll missed the peer's close")
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("read after close: %v, want EOF", err)
	}
}

// Exchanges with polling on: answers intact whether they come while the
// request polls or after it gave up, one at a time or many at once, and
// the awaiting count back at zero after successes and failures alike.
func TestSpinWaitExchanges(t *testing.T) {
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("delay")); err == nil {
			time.Sleep(d)
		}
		fmt.Fprintf(w, "answer to %s", r.URL.RawQuery)
	}))
	tr := New(Config{SpinWait: time.Millisecond})
	t.Cleanup(func() { tr.Close() })
	if tr.spin == nil {
		t.Skip("GOMAXPROCS is 1: polling is off")
	}
	for i := range 100 {
		q := fmt.Sprintf("i=%d", i)
		if i%10 == 9 {
			q += "&delay=3ms" // answered after the poll gave up
		}
		if _, body := get(t, tr, srv.URL+"/?"+q); body != "answer to "+q {
			t.Fatalf("got %q, want the answer to %s", body, q)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				q := fmt.Sprintf("w=%d&i=%d", w, i)
				resp, err := tr.RoundTrip(mustReq(t, context.Background(), "GET", srv.URL+"/?"+q, nil))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != "answer to "+q {
					errs <- fmt.Errorf("got %q, %v; want the answer to %s", b, err, q)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := tr.spin.awaiting.Load(); n != 0 {
		t.Fatalf("awaiting = %d after all exchanges, want 0", n)
	}

	// A backend that hangs up instead of answering: the error comes
	// through and the exchange is no longer counted.
	rs := newRawServer(t, func(_ int, c net.Conn) {
		readRequest(bufio.NewReader(c))
	})
	req := mustReq(t, context.Background(), "POST", rs.url(), onceBody("x"))
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("no error from a backend that closed without answering")
	}
	if n := tr.spin.awaiting.Load(); n != 0 {
		t.Fatalf("awaiting = %d after a failed exchange, want 0", n)
	}
}
