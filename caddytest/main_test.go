package caddytest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

// TestMain doubles as a Caddy process and as a tiny backend process for the
// scale-out and chaos tests. As a backend: with
// SMARTPROXY_TEST_BACKEND=<addr> the test binary serves "<name>" on addr
// until killed, so a test can freeze it with SIGSTOP.
func TestMain(m *testing.M) {
	// With SMARTPROXY_TEST_CADDY_CONFIG=<file> the test binary is a Caddy
	// (with this plugin) running that JSON config: the scale-out tests run
	// several instances as real processes.
	if cfg := os.Getenv("SMARTPROXY_TEST_CADDY_CONFIG"); cfg != "" {
		os.Args = []string{"caddy", "run", "--config", cfg}
		caddycmd.Main()
		return
	}
	if addr := os.Getenv("SMARTPROXY_TEST_BACKEND"); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		name := os.Getenv("SMARTPROXY_TEST_BACKEND_NAME")
		fmt.Println("ready")
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		}))
		os.Exit(0)
	}
	useAdminRetry() // adminconn_test.go
	os.Exit(m.Run())
}
