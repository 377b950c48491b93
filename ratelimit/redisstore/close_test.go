package redisstore

import (
	"context"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-smartproxy/smartproxy/internal/redistest"
)

func TestCloseLeavesNoGoroutine(t *testing.T) {
	r := redistest.Start(t)
	r.ConnectedClients() // the admin client's connection is up
	// A closed port: dials fail, which starts go-redis's redial goroutine.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	before := runtime.NumGoroutine()
	for _, addr := range []string{r.Addr, dead} {
		s := Settings{RequestsPerSecond: 10, Burst: 10, Address: addr, ProbeInterval: time.Millisecond}
		st, err := New(s)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { st.Allow(context.Background(), "k") })
		}
		wg.Wait()
		// Its own goroutine, by its stack: the count alone also falls as an
		// earlier test's closed pools finish (go-redis's redial goroutines
		// notice within a second), which made this check flaky.
		if !probing() {
			t.Fatalf("%s: a live Store has no goroutine of its own: the check below proves nothing", addr)
		}
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	// go-redis's redial goroutine notices a closed pool within a second.
	eventually(t, 5*time.Second, "goroutines back to where they were", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// probing reports whether a Store's probe goroutine is running.
func probing() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "redisstore.(*health).probe")
}

func TestNewCloseCyclesLeaveNoConnection(t *testing.T) {
	r := redistest.Start(t)
	base := r.ConnectedClients()
	for i := range 100 {
		st, err := New(Settings{RequestsPerSecond: 100, Burst: 10, Address: r.Addr, LeaseSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				if _, err := st.Allow(context.Background(), "k"); err != nil {
					t.Errorf("cycle %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if i == 0 && r.ConnectedClients() <= base {
			t.Fatal("a Store in use holds no connection: the check below proves nothing")
		}
		if err := st.Close(); err != nil {
			t.Fatalf("cycle %d: Close: %v", i, err)
		}
	}
	eventually(t, 5*time.Second, "connected_clients back to the admin's", func() bool {
		return r.ConnectedClients() == base
	})
}
