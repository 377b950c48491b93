package caddytest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
)

// TestMain doubles as a tiny backend process for the chaos tests: with
// SMARTPROXY_TEST_BACKEND=<addr> the test binary serves "<name>" on addr
// until killed, so a test can freeze it with SIGSTOP.
func TestMain(m *testing.M) {
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
	os.Exit(m.Run())
}
