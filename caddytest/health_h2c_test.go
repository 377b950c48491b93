package caddytest

import (
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// backendHealth polls the status API until the route's only backend's
// health state is want, or fails after a bound.
func waitBackendHealth(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		for _, r := range getStatus(t).Routes {
			for _, b := range r.Backends {
				if b.Health != nil {
					last = b.Health.State
				}
			}
		}
		if last == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("backend health %q after 10s, want %q", last, want)
}

// An h2c backend that speaks only HTTP/2 (prior knowledge) is probed over
// h2c and stays healthy; over HTTP/1.1, as before, it was marked down.
func TestH2COnlyBackendIsProbedOverH2C(t *testing.T) {
	u := newH2CBackend(t, "h2")
	start(t, map[string]any{
		"backends":     []map[string]any{{"url": u}},
		"health_check": map[string]any{"path": "/health", "interval": "200ms", "timeout": "100ms", "unhealthy_threshold": 1},
	})
	time.Sleep(700 * time.Millisecond) // several probes
	waitBackendHealth(t, "healthy")
	if code, body := get(t, newClient(), "/"); code != 200 || body != "h2 HTTP/2.0" {
		t.Fatalf("GET /: %d %q", code, body)
	}
}

// health_check type grpc asks a real gRPC server's health service and
// follows its answers: NOT_SERVING takes the backend out, SERVING back in.
func TestGRPCHealthCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	start(t, map[string]any{
		"backends": []map[string]any{{"url": "h2c://" + ln.Addr().String()}},
		"health_check": map[string]any{"type": "grpc", "interval": "200ms", "timeout": "100ms",
			"unhealthy_threshold": 1, "healthy_threshold": 1},
	})
	waitBackendHealth(t, "healthy")
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	waitBackendHealth(t, "unhealthy")
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	waitBackendHealth(t, "healthy")
}
