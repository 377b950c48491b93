// Package redistest runs real redis-server processes for tests.
//
// Every test that needs Redis gets a server of its own: Debian's
// redis-server binary (the redis-server package; .ci/run installs it),
// bound to 127.0.0.1 on a free port, without persistence, and killed at
// the test's Cleanup. Nothing is shared between tests, so a test may stop,
// freeze or reconfigure its server without disturbing another.
//
// When the binary is missing the test is skipped with a message naming the
// package to install, except in CI (the environment variable CI set to
// "true", as .ci/run and most CI systems do), where a missing binary is a
// failure: a CI run that silently skipped every Redis test would pass
// without having tested them.
package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartTimeout bounds how long Start and Restart wait for the server to
// answer PING.
const StartTimeout = 10 * time.Second

// bindAttempts is how many free ports Start tries: a port found free can
// be taken by another process before redis-server binds it.
const bindAttempts = 5

// Server is one redis-server process of a test's own.
type Server struct {
	t    testing.TB
	bin  string
	args []string
	// certFile and keyFile, when set, make the server speak only TLS.
	certFile, keyFile string
	cmd               *exec.Cmd
	// exited is closed when cmd has been reaped.
	exited chan struct{}

	// Addr is the server's host:port on 127.0.0.1; it stays the same
	// across Kill and Restart.
	Addr string
	// Admin is a client for the test's own checks and setup (no retries,
	// no CLIENT SETINFO, deadlines from the context), closed at Cleanup. Its one connection counts in
	// ConnectedClients once it has been used.
	Admin *redis.Client
}

// LookPath returns the path of the named Redis program ("redis-server",
// "redis-cli"). When it is not installed, the test is skipped with a
// message naming the package, or fails when CI is "true".
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := name + " not found in PATH: install Debian's redis-server package (.ci/run does) to run the Redis tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a CI run must not skip them)")
		return ""
	}
	t.Skip(msg)
	return ""
}

// Start runs a redis-server on a free loopback port, waits until it
// answers PING and stops it at the test's Cleanup. args are extra
// redis-server options ("--maxmemory", "1mb").
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, bin: LookPath(t, "redis-server"), args: args}
	s.launch(nil)
	return s
}

// StartTLS is Start for a server that speaks only TLS on Addr, with the
// PEM certificate and key in certFile and keyFile (the certificate is its
// CA for client certificates too, which it does not ask for). Admin
// connects with clientTLS.
func StartTLS(t testing.TB, certFile, keyFile string, clientTLS *tls.Config, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, bin: LookPath(t, "redis-server"), args: args, certFile: certFile, keyFile: keyFile}
	s.launch(clientTLS)
	return s
}

// launch finds a port the server can bind, starts it and registers its
// Cleanup.
func (s *Server) launch(clientTLS *tls.Config) {
	s.t.Helper()
	logTo(s.t) // before the Cleanup below: go-redis's last words go to the test too (logs.go)
	s.t.Cleanup(func() {
		s.Kill()
		if s.Admin != nil {
			s.Admin.Close()
		}
	})
	var err error
	for range bindAttempts {
		s.Addr = freeAddr(s.t)
		if s.Admin != nil {
			s.Admin.Close()
		}
		s.Admin = redis.NewClient(&redis.Options{Addr: s.Addr, TLSConfig: clientTLS,
			MaxRetries: -1, DisableIdentity: true, ContextTimeoutEnabled: true})
		if err = s.run(); !errors.Is(err, errExited) {
			break
		}
	}
	if err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
}

// Restart starts the server again on the same address and with the same
// options after Kill, with an empty data set, and waits until it answers
// PING.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("redistest: Restart of a server that is running")
	}
	if err := s.run(); err != nil {
		s.t.Fatalf("restarting redis-server on %s: %v", s.Addr, err)
	}
}

var errExited = errors.New("redis-server exited before answering PING")

// run starts the process on s.Addr and waits for PING, or for the process
// to exit (a port taken meanwhile).
func (s *Server) run() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	argv := []string{"--port", port}
	if s.certFile != "" {
		argv = []string{"--port", "0", "--tls-port", port, "--tls-cert-file", s.certFile,
			"--tls-key-file", s.keyFile, "--tls-ca-cert-file", s.certFile, "--tls-auth-clients", "no"}
	}
	argv = append(argv, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning")
	argv = append(argv, s.args...)
	cmd := exec.Command(s.bin, argv...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(StartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := s.Admin.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			s.cmd = nil
			return errExited
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Kill()
			return errors.New("no answer to PING within " + StartTimeout.String() + ": " + err.Error())
		}
	}
}

// Kill stops the server at once (SIGKILL) and reaps it; its data is lost.
// Killing a stopped server does nothing.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Freeze stops the process (SIGSTOP) without closing its connections, so
// clients see a server that accepts and never answers; Thaw resumes it.
// Cleanup kills a frozen server as well.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a server stopped by Freeze (SIGCONT).
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatalf("redistest: %v to a server that is not running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v to redis-server: %v", sig, err)
	}
}

// ConnectedClients is INFO clients' connected_clients: every client
// connection the server has open, Admin's included.
func (s *Server) ConnectedClients() int {
	s.t.Helper()
	info, err := s.Admin.Info(context.Background(), "clients").Result()
	if err != nil {
		s.t.Fatalf("INFO clients: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "connected_clients:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				s.t.Fatalf("connected_clients %q: %v", v, err)
			}
			return n
		}
	}
	s.t.Fatalf("no connected_clients in INFO clients: %q", info)
	return 0
}

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
