package redisstore

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rogue is a Redis impostor on loopback: a raw TCP server that answers
// HELLO with an error (go-redis then speaks RESP2), any other command but
// the script with +OK, and the script (EVALSHA or EVAL) with answer, which
// writes what it likes to the connection and may block. closed receives one
// value per connection the client closes.
type rogue struct {
	addr   string
	closed chan struct{}
}

// startRogue listens on a free loopback port until the test ends.
func startRogue(t *testing.T, answer func(w io.Writer)) *rogue {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveRogue(t, l, answer)
}

// serveRogue serves on l until the test ends.
func serveRogue(t *testing.T, l net.Listener, answer func(w io.Writer)) *rogue {
	r := &rogue{addr: l.Addr().String(), closed: make(chan struct{}, 64)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				r.serve(c, answer)
				c.Close()
				r.closed <- struct{}{}
			})
		}
	})
	return r
}

// serve answers commands on c until the client closes it.
func (r *rogue) serve(c net.Conn, answer func(w io.Writer)) {
	br := bufio.NewReader(c)
	for {
		name, err := readCommand(br)
		if err != nil {
			return
		}
		switch name {
		case "HELLO":
			io.WriteString(c, "-ERR unknown command 'HELLO'\r\n")
		case "EVALSHA", "EVAL":
			// The answer runs beside a reader that notices the client
			// closing the connection, which then ends the answer.
			done := make(chan struct{})
			go func() {
				answer(c)
				close(done)
			}()
			io.Copy(io.Discard, br)
			<-done
			return
		default:
			io.WriteString(c, "+OK\r\n")
		}
	}
}

// readCommand reads one command, an array of bulk strings, and returns its
// name in upper case.
func readCommand(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n < 1 || n > 64 {
		return "", errors.New("not a command")
	}
	var name string
	for i := range n {
		head, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
		if err != nil || size < 0 || size > 1<<20 {
			return "", errors.New("not a bulk string")
		}
		arg := make([]byte, size+2)
		if _, err := io.ReadFull(br, arg); err != nil {
			return "", err
		}
		if i == 0 {
			name = strings.ToUpper(string(arg[:size]))
		}
	}
	return name, nil
}

// say answers with s once, then holds the connection open.
func say(s string) func(io.Writer) {
	return func(w io.Writer) { io.WriteString(w, s) }
}

// flood writes head, then chunk after chunk of body until the connection
// fails or limit bytes are out.
func flood(head, body string, limit int) func(io.Writer) {
	chunk := []byte(strings.Repeat(body, max(1, 16<<10/len(body))))
	return func(w io.Writer) {
		if _, err := io.WriteString(w, head); err != nil {
			return
		}
		for sent := 0; sent < limit; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
}

// drip writes s one byte every interval, for as long as the client listens.
func drip(s string, interval time.Duration) func(io.Writer) {
	return func(w io.Writer) {
		for i := 0; ; i = (i + 1) % len(s) {
			if _, err := w.Write([]byte{s[i]}); err != nil {
				return
			}
			time.Sleep(interval)
		}
	}
}

// hostile are Store settings for the rogue tests: the 100 ms default
// timeout, and no probe during the test.
func hostile(addr string) Settings {
	return Settings{
		RequestsPerSecond: 100, Burst: 10, Address: addr,
		ReadTimeout: 100 * time.Millisecond, DialTimeout: 200 * time.Millisecond,
		ProbeInterval: time.Hour,
	}
}

// rogueReplies are the answers a hostile or broken server might give the
// script. Each must leave the request decided by the failure policy
// within the timeout, without the Store allocating more than a few MiB.
var rogueReplies = []struct {
	name   string
	answer func(io.Writer)
	// keep is set for replies that are valid RESP, only not what the
	// script returns: the stream is still in step, so the connection
	// may stay in the pool. Every other reply must cost the connection.
	keep bool
}{
	{"array of 2^31-1 elements", say("*2147483647\r\n"), false},
	{"bulk string of a terabyte", say("$999999999999\r\n"), false},
	{"array of 5 million elements", say("*5000000\r\n"), false},
	{"bulk string of 100 MB", say("$100000000\r\n"), false},
	{"map of a million pairs", say("%1000000\r\n"), false},
	{"array of huge strings", say("*4\r\n$999999999\r\n"), false},
	{"arrays nested a thousand deep", say(strings.Repeat("*1\r\n", 1000)), false},
	{"a line that never ends", flood("+", "a", 64<<20), false},
	{"an error that never ends", flood("-ERR ", "x", 64<<20), false},
	{"a number that never ends", flood(":", "9", 64<<20), false},
	{"negative numbers", say("*4\r\n:-1\r\n:0\r\n:0\r\n:0\r\n"), true},
	{"strings for numbers", say("*4\r\n$1\r\n5\r\n$1\r\n4\r\n$1\r\n0\r\n$1\r\n0\r\n"), true},
	{"too few numbers", say("*3\r\n:1\r\n:1\r\n:1\r\n"), true},
	{"a number for an array", say(":5\r\n"), true},
	{"a nil", say("*-1\r\n"), true},
	{"not RESP", say("HTTP/1.1 400 Bad Request\r\n\r\n"), false},
	{"never answers", say(""), false},
	{"answers one byte every 20 ms", drip("*4\r\n:1\r\n:1\r\n:1\r\n:1\r\n", 20*time.Millisecond), false},
}

// TestRogueRedisCannotExhaustMemoryOrStall runs one request against each
// rogue reply: it must be decided by the failure policy (fail_open: the
// local limiter admits it) within the timeout, the Store must count Redis
// as unavailable and close the connection (unless the reply was valid
// RESP of the wrong shape), and the process must allocate
// no more than a few MiB meanwhile, where go-redis alone would have
// allocated what the reply announced.
func TestRogueRedisCannotExhaustMemoryOrStall(t *testing.T) {
	for _, tc := range rogueReplies {
		t.Run(tc.name, func(t *testing.T) {
			r := startRogue(t, tc.answer)
			st, err := New(hostile(r.addr))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			d, err := st.Allow(context.Background(), "client")
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if err != nil || !d.Allowed {
				t.Fatalf("Allow: %+v, %v; want the fail_open fallback's admission", d, err)
			}
			if took > st.Settings().ReadTimeout+slack {
				t.Fatalf("the request took %v, timeout %v", took, st.Settings().ReadTimeout)
			}
			if !st.Degraded() || st.Errors() == 0 {
				t.Fatalf("degraded %v, %d errors: the rogue reply did not count as Redis unavailable", st.Degraded(), st.Errors())
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("decided in %v, %d KiB allocated", took.Round(time.Millisecond), alloc>>10)
			if alloc > 8<<20 {
				t.Fatalf("%d MiB allocated during one request", alloc>>20)
			}
			if tc.keep {
				return
			}
			select {
			case <-r.closed:
			case <-time.After(2 * time.Second):
				t.Fatal("the connection to the rogue server is still open")
			}
		})
	}
}

// TestRogueGrantsAreClamped answers the script with well-formed but absurd
// numbers. Redis decides requests, so such a reply may admit this one; it
// must not lease more tokens than were asked for, or report more than the
// burst, or waits beyond the time the bucket takes to refill.
func TestRogueGrantsAreClamped(t *testing.T) {
	const huge = ":9223372036854775807\r\n"
	tests := []struct {
		name  string
		reply string
	}{
		{"everything at the maximum", "*4\r\n" + huge + huge + huge + huge},
		// 9e15 µs, 285 years, still fits a Duration unclamped.
		{"nothing left, a wait of centuries", "*4\r\n:0\r\n:0\r\n:9000000000000000\r\n:9000000000000000\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startRogue(t, say(tc.reply))
			s := hostile(r.addr)
			st, err := New(s)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			size, _ := s.Lease()
			d, err := st.Allow(context.Background(), "client")
			if err != nil || st.Degraded() {
				t.Fatalf("Allow: %v, degraded %v; a well-formed reply is an answer", err, st.Degraded())
			}
			full := time.Duration(float64(s.Burst) / s.RequestsPerSecond * float64(time.Second))
			one := time.Duration(float64(time.Second) / s.RequestsPerSecond)
			if d.Remaining > s.Burst+size || d.Reset > full+time.Millisecond || d.RetryAfter > one+time.Millisecond {
				t.Fatalf("decision %+v: beyond burst %d, refill %v or one token's wait %v", d, s.Burst, full, one)
			}
			e := st.entry("client")
			if e.tokens > size-1 || e.left > s.Burst {
				t.Fatalf("lease of %d tokens after asking for %d (one spent), shared bucket said to hold %d of %d",
					e.tokens, size, e.left, s.Burst)
			}
		})
	}
}

// entry returns a copy of key's lease table entry, or the zero entry.
func (s *Store) entry(key string) entry {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		e := sh.index[key]
		sh.mu.Unlock()
		if e != nil {
			return *e
		}
	}
	return entry{}
}
