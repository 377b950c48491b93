package smartproxy

import (
	"sync/atomic"
	"testing"
	"time"
)

type closeCounter struct{ n atomic.Int32 }

func (c *closeCounter) Close() error { c.n.Add(1); return nil }

// TestTunnelSetRetire: a tunnel set that no config holds any more closes
// its tunnels, at once without a delay and only after it with one, and
// refuses new tunnels from then on.
func TestTunnelSetRetire(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{{"no delay", 0}, {"delay", 50 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			var hs holds
			ts, err := acquireTunnels(&hs, "test|retire|"+tc.name, "http://b:80", tc.delay)
			if err != nil {
				t.Fatal(err)
			}
			var client, back closeCounter
			if !ts.add(&tunnelConns{client: &client, backend: &back}) || ts.len() != 1 {
				t.Fatal("a held set refused a tunnel")
			}
			retired := time.Now()
			hs.releaseAll() // the last holder: the set retires
			if tc.delay == 0 && (client.n.Load() != 1 || back.n.Load() != 1) {
				t.Fatalf("closed %d/%d connections at once, want both", client.n.Load(), back.n.Load())
			}
			if tc.delay > 0 {
				if client.n.Load() != 0 && time.Since(retired) < tc.delay {
					t.Fatal("closed before the delay")
				}
				deadline := time.Now().Add(5 * time.Second)
				for client.n.Load() == 0 || back.n.Load() == 0 {
					if time.Now().After(deadline) {
						t.Fatal("not closed after the delay")
					}
					time.Sleep(5 * time.Millisecond)
				}
				if took := time.Since(retired); took < tc.delay {
					t.Fatalf("closed after %v, before the %v delay", took, tc.delay)
				}
			}
			var late closeCounter
			if ts.add(&tunnelConns{client: &late, backend: &late}) {
				t.Fatal("a retired set took a new tunnel")
			}
		})
	}
}

// TestTunnelSetKeptWhileHeld: a second holder keeps the set (and its
// tunnels) when the first lets go, as a reload that keeps the backend does.
func TestTunnelSetKeptWhileHeld(t *testing.T) {
	var old, next holds
	a, _ := acquireTunnels(&old, "test|kept", "http://b:80", 0)
	var c closeCounter
	a.add(&tunnelConns{client: &c, backend: &c})
	b, _ := acquireTunnels(&next, "test|kept", "http://b:80", 0)
	old.releaseAll()
	if a != b || c.n.Load() != 0 || !b.add(&tunnelConns{client: &c, backend: &c}) {
		t.Fatalf("the set did not survive its first holder: same %v, closed %d", a == b, c.n.Load())
	}
	next.releaseAll()
	if c.n.Load() != 4 {
		t.Fatalf("closed %d times, want both tunnels' two ends", c.n.Load())
	}
}
