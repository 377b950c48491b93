package forward

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestPipeHalfClose: the client ends its stream; the backend learns of it
// (EOF), still sends its answer, which reaches the client, and Pipe
// returns once the backend ends too.
func TestPipeHalfClose(t *testing.T) {
	client, proxyClient := tcpPair(t)
	proxyBack, back := tcpPair(t)
	done := make(chan struct{})
	go func() {
		// The server had read "early" past the request's headers.
		buf := bufio.NewReader(io.MultiReader(strings.NewReader("early "), proxyClient))
		Pipe(proxyClient, buf, proxyBack, time.Minute)
		close(done)
	}()
	client.Write([]byte("ping"))
	client.CloseWrite()
	got, err := io.ReadAll(back)
	if err != nil || string(got) != "early ping" {
		t.Fatalf("backend read %q, %v", got, err)
	}
	back.Write([]byte("pong"))
	back.CloseWrite()
	got, err = io.ReadAll(client)
	if err != nil || string(got) != "pong" {
		t.Fatalf("client read %q, %v", got, err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Pipe did not return after both sides ended")
	}
}

// TestPipeLinger: after one side ends, the other gets linger to end its
// own, then both connections are closed.
func TestPipeLinger(t *testing.T) {
	client, proxyClient := tcpPair(t)
	proxyBack, _ := tcpPair(t) // the backend never ends its stream
	done := make(chan struct{})
	go func() {
		Pipe(proxyClient, bufio.NewReader(proxyClient), proxyBack, 10*time.Millisecond)
		close(done)
	}()
	client.CloseWrite()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Pipe outlived its linger while the backend kept its stream open")
	}
	// Both of the proxy's connections are closed: the client reads EOF.
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(client); err != nil {
		t.Fatalf("the client's connection was not closed: %v", err)
	}
}

// TestPipeNoHalfClose: a destination that cannot be half-closed ends the
// tunnel at once.
func TestPipeNoHalfClose(t *testing.T) {
	client, proxyClient := tcpPair(t)
	proxyBack, back := net.Pipe() // no CloseWrite
	defer back.Close()
	go io.Copy(io.Discard, back)
	done := make(chan struct{})
	go func() {
		Pipe(proxyClient, bufio.NewReader(proxyClient), proxyBack, time.Minute)
		close(done)
	}()
	client.CloseWrite()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Pipe waited for a linger although the backend could not be told of the end")
	}
}
