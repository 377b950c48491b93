package redisstore

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server process of the test's own, on a free
// loopback port, killed when the test ends.
type redisServer struct {
	t    testing.TB
	bin  string
	addr string
	cmd  *exec.Cmd
	// admin is a client for the test's own checks.
	admin *redis.Client
}

// startRedis starts a redis-server on a free loopback port, or skips the
// test when the binary is not installed.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found in PATH: install the redis-server package (CI does) to run the Redis tests")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := &redisServer{t: t, bin: bin, addr: addr}
	r.admin = redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true})
	t.Cleanup(func() {
		r.kill()
		r.admin.Close()
	})
	r.start()
	return r
}

// start runs the server (again, after kill) on r.addr and waits until it
// answers PING.
func (r *redisServer) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command(r.bin, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("starting redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := r.admin.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer PING within 10 s: %v", r.addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill stops the server at once (SIGKILL) and reaps it.
func (r *redisServer) kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

// signal sends sig ("STOP", "CONT") to the server, to freeze it without
// closing its connections.
func (r *redisServer) signal(sig string) {
	r.t.Helper()
	if err := exec.Command("kill", "-"+sig, strconv.Itoa(r.cmd.Process.Pid)).Run(); err != nil {
		r.t.Fatalf("kill -%s redis-server: %v", sig, err)
	}
}

// connectedClients reads connected_clients from INFO clients.
func (r *redisServer) connectedClients() int {
	r.t.Helper()
	info, err := r.admin.Info(context.Background(), "clients").Result()
	if err != nil {
		r.t.Fatalf("INFO clients: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "connected_clients:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				r.t.Fatalf("connected_clients %q: %v", v, err)
			}
			return n
		}
	}
	r.t.Fatalf("no connected_clients in INFO clients: %q", info)
	return 0
}

// newTestStore makes a Store on r with s's limits, failing the test on
// error and closing the Store when it ends.
func newTestStore(t testing.TB, r *redisServer, s Settings) *Store {
	t.Helper()
	s.Address = r.addr
	st, err := New(s)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// eventually polls cond every 5 ms until it holds or within passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
