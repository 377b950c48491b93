package smartproxy

import (
	"context"
	"net"
	"net/http"
	"testing"
)

// wrappedConn hides a connection's ReadFrom, as Caddy's http2Conn does.
type wrappedConn struct{ net.Conn }

// The connection probe notes whether net/http can splice to a connection;
// a request on a connection it never saw may splice, as before the probe.
func TestSpliceProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tcp, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tests := []struct {
		name  string
		ctx   func() context.Context
		wants bool
	}{
		{"a TCP connection", func() context.Context { return probeSplice(context.Background(), tcp) }, true},
		{"a wrapper without ReadFrom", func() context.Context { return probeSplice(context.Background(), wrappedConn{tcp}) }, false},
		{"not probed", context.Background, true},
		{"probed twice: the first note stands", func() context.Context {
			return probeSplice(probeSplice(context.Background(), wrappedConn{tcp}), tcp)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequestWithContext(tc.ctx(), "GET", "http://example.com/", nil)
			if got := clientSplices(r); got != tc.wants {
				t.Errorf("clientSplices: %v, want %v", got, tc.wants)
			}
		})
	}
}

// The probe costs one context value per connection and nothing per request.
func BenchmarkSpliceProbe(b *testing.B) {
	c := wrappedConn{}
	b.Run("per connection", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			probeSplice(context.Background(), c)
		}
	})
	b.Run("per large body", func(b *testing.B) {
		r, _ := http.NewRequestWithContext(probeSplice(context.Background(), c), "GET", "http://example.com/", nil)
		b.ReportAllocs()
		for b.Loop() {
			if clientSplices(r) {
				b.Fatal("splices")
			}
		}
	})
}
