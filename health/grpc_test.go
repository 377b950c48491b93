package health

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// grpcBackend is a real gRPC server with the standard health service.
type grpcBackend struct {
	health *grpchealth.Server
	url    *url.URL
}

// newGRPCBackend serves gRPC over h2c on loopback: "" and "api" SERVING,
// "batch" NOT_SERVING. Without the health service when bare.
func newGRPCBackend(t *testing.T, bare bool) *grpcBackend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	b := &grpcBackend{health: grpchealth.NewServer(), url: &url.URL{Scheme: "h2c", Host: lis.Addr().String()}}
	if !bare {
		healthpb.RegisterHealthServer(srv, b.health)
	}
	b.health.SetServingStatus("api", healthpb.HealthCheckResponse_SERVING)
	b.health.SetServingStatus("batch", healthpb.HealthCheckResponse_NOT_SERVING)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return b
}

func grpcChecker(t *testing.T, s Settings, u *url.URL, opts ...Option) (*Checker, *target) {
	t.Helper()
	s.Type = TypeGRPC
	c, err := New(s, []Target{{Name: "a", URL: u}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, c.targets[0]
}

func TestGRPCCheck(t *testing.T) {
	b := newGRPCBackend(t, false)
	tests := []struct {
		service string
		want    error // nil: passes
	}{
		{"", nil},
		{"api", nil},
		{"batch", ErrNotServing},
		{"nosuch", ErrGRPCStatus}, // NOT_FOUND
	}
	for _, tc := range tests {
		t.Run("service="+tc.service, func(t *testing.T) {
			c, tgt := grpcChecker(t, Settings{Service: tc.service}, b.url)
			err := c.grpcCheck(context.Background(), tgt)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("check error %v, want %v", err, tc.want)
			}
		})
	}
	// The answer follows the server's status as it changes.
	c, tgt := grpcChecker(t, Settings{Service: "api"}, b.url)
	b.health.SetServingStatus("api", healthpb.HealthCheckResponse_NOT_SERVING)
	if err := c.grpcCheck(context.Background(), tgt); !errors.Is(err, ErrNotServing) || !bytes.Contains([]byte(err.Error()), []byte("NOT_SERVING")) {
		t.Fatalf("after the service went down: %v", err)
	}
	b.health.SetServingStatus("api", healthpb.HealthCheckResponse_SERVING)
	if err := c.grpcCheck(context.Background(), tgt); err != nil {
		t.Fatalf("after the service came back: %v", err)
	}
}

func TestGRPCCheckWithoutHealthService(t *testing.T) {
	b := newGRPCBackend(t, true)
	c, tgt := grpcChecker(t, Settings{}, b.url)
	if err := c.grpcCheck(context.Background(), tgt); !errors.Is(err, ErrGRPCStatus) {
		t.Fatalf("error %v, want ErrGRPCStatus (UNIMPLEMENTED)", err)
	}
}

func TestGRPCCheckOverTLS(t *testing.T) {
	hs := grpchealth.NewServer()
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	hs.SetServingStatus("api", healthpb.HealthCheckResponse_NOT_SERVING)
	ts := httptest.NewUnstartedServer(gs) // grpc.Server serves HTTP/2 through net/http too
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	defer gs.Stop()
	u, _ := url.Parse(ts.URL)
	c, tgt := grpcChecker(t, Settings{}, u, WithClient(ts.Client()))
	if err := c.grpcCheck(context.Background(), tgt); err != nil {
		t.Fatalf("serving server: %v", err)
	}
	c, tgt = grpcChecker(t, Settings{Service: "api"}, u, WithClient(ts.Client()))
	if err := c.grpcCheck(context.Background(), tgt); !errors.Is(err, ErrNotServing) {
		t.Fatalf("not serving: %v", err)
	}
}

func TestGRPCCheckRefusesNonGRPCAnswers(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"plain 200", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }},
		{"grpc type, no status", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/grpc")
			w.Write([]byte{0, 0, 0, 0, 2, 8, 1})
		}},
		{"huge reply", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Trailer", "Grpc-Status")
			w.Write(append([]byte{0, 0, 0, 0x10, 0}, make([]byte, 4096)...))
			w.Header().Set("Grpc-Status", "0")
		}},
		{"compressed", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Trailer", "Grpc-Status")
			w.Write([]byte{1, 0, 0, 0, 2, 8, 1})
			w.Header().Set("Grpc-Status", "0")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := h2cServer(t, tc.handler)
			c, tgt := grpcChecker(t, Settings{}, u)
			if err := c.grpcCheck(context.Background(), tgt); !errors.Is(err, ErrBadGRPCReply) {
				t.Fatalf("error %v, want ErrBadGRPCReply", err)
			}
		})
	}
	// A TLS server that only speaks HTTP/1.1 cannot answer gRPC.
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ts.Close()
	u, _ := url.Parse(ts.URL)
	c, tgt := grpcChecker(t, Settings{}, u, WithClient(ts.Client()))
	if err := c.grpcCheck(context.Background(), tgt); !errors.Is(err, ErrBadGRPCReply) {
		t.Fatalf("HTTP/1.1 answer: %v", err)
	}
}

// h2cServer serves handler over h2c only (HTTP/2 with prior knowledge; an
// HTTP/1.1 request fails) and returns its h2c:// URL.
func h2cServer(t *testing.T, handler http.Handler) *url.URL {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: handler, Protocols: &p}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return &url.URL{Scheme: "h2c", Host: lis.Addr().String()}
}

func TestH2CTargetsAreProbedOverH2C(t *testing.T) {
	protos := make(chan string, 4)
	u := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos <- r.Proto + " " + r.URL.Path
	}))
	c, err := New(Settings{}, []Target{{Name: "a", URL: u}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.httpCheck(context.Background(), c.targets[0]); err != nil {
		t.Fatalf("h2c check of an h2c-only backend: %v", err)
	}
	if got := <-protos; got != "HTTP/2.0 /health" {
		t.Fatalf("probe came as %q", got)
	}
	// The same backend asked over HTTP/1.1 fails: that was the bug.
	h1 := *u
	h1.Scheme = "http"
	c, err = New(Settings{}, []Target{{Name: "a", URL: &h1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.httpCheck(context.Background(), c.targets[0]); err == nil {
		t.Fatal("an HTTP/1.1 probe of an h2c-only backend passed; the test proves nothing")
	}
}

func TestGRPCCheckerFollowsTheServer(t *testing.T) {
	b := newGRPCBackend(t, false)
	c, err := New(Settings{Type: TypeGRPC, Service: "api", Interval: 5 * time.Millisecond, HealthyThreshold: 1, UnhealthyThreshold: 1},
		[]Target{{Name: "a", URL: b.url}})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(context.Background())
	defer c.Stop()
	eventually(t, "a passing grpc check", func() bool { st, _ := c.Status("a"); return st.Passes > 0 })
	b.health.SetServingStatus("api", healthpb.HealthCheckResponse_NOT_SERVING)
	eventually(t, "the backend to be marked down", func() bool { return c.State("a") == Unhealthy })
	b.health.SetServingStatus("api", healthpb.HealthCheckResponse_SERVING)
	eventually(t, "the backend to come back", func() bool { return c.State("a") == Healthy })
}

func TestHealthMessages(t *testing.T) {
	if got := encodeHealthRequest(""); !bytes.Equal(got, []byte{0, 0, 0, 0, 0}) {
		t.Fatalf("empty request %v", got)
	}
	if got := encodeHealthRequest("api"); !bytes.Equal(got, []byte{0, 0, 0, 0, 5, 0x0a, 3, 'a', 'p', 'i'}) {
		t.Fatalf("request %v", got)
	}
	tests := []struct {
		name string
		in   []byte
		want servingStatus
		ok   bool
	}{
		{"serving", []byte{0, 0, 0, 0, 2, 8, 1}, serving, true},
		{"empty is UNKNOWN", []byte{0, 0, 0, 0, 0}, 0, true},
		{"unknown fields skipped", []byte{0, 0, 0, 0, 10, 0x12, 1, 'x', 8, 2, 0x1d, 1, 2, 3, 4}, 2, true},
		{"short header", []byte{0, 0, 0}, 0, false},
		{"length past the end", []byte{0, 0, 0, 0, 9, 8, 1}, 0, false},
		{"trailing bytes", []byte{0, 0, 0, 0, 2, 8, 1, 0}, 0, false},
		{"bad varint", []byte{0, 0, 0, 0, 2, 8, 0x80}, 0, false},
		{"bytes field too long", []byte{0, 0, 0, 0, 3, 0x12, 0x7f, 0}, 0, false},
		{"huge length varint", []byte{0, 0, 0, 0, 11, 0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 0, false},
		{"group wire type", []byte{0, 0, 0, 0, 1, 0x0b}, 0, false},
		{"field 0", []byte{0, 0, 0, 0, 2, 0, 1}, 0, false},
	}
	for _, tc := range tests {
		st, err := decodeHealthReply(tc.in)
		if (err == nil) != tc.ok || st != tc.want {
			t.Errorf("%s: got %v, %v; want %v ok=%v", tc.name, st, err, tc.want, tc.ok)
		}
	}
}

// FuzzDecodeHealthReply feeds arbitrary bytes to the gRPC health reply
// decoder: it must never panic and never accept more than it was given.
func FuzzDecodeHealthReply(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 2, 8, 1})
	f.Add([]byte{0, 0, 0, 0, 10, 0x12, 1, 'x', 8, 2, 0x1d, 1, 2, 3, 4})
	f.Add([]byte{0, 0, 0, 0, 3, 0x12, 0x7f, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := decodeHealthReply(b); err == nil && len(b) < 5 {
			t.Fatalf("accepted %d bytes", len(b))
		}
	})
}

// Probes over h2c, plain and gRPC, open a fresh connection each and leave
// none behind (no idle HTTP/2 connection outlives its probe).
func TestH2CProbesLeaveNoConnection(t *testing.T) {
	b := newGRPCBackend(t, false)
	plain := h2cServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	base := runtime.NumGoroutine()
	g, gt := grpcChecker(t, Settings{}, b.url)
	h, err := New(Settings{}, []Target{{Name: "a", URL: plain}})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := g.grpcCheck(context.Background(), gt); err != nil {
			t.Fatal(err)
		}
		if err := h.httpCheck(context.Background(), h.targets[0]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the probes' connections to close", func() bool { return runtime.NumGoroutine() <= base })
}
