package caddytest

import (
	"errors"
	"io"
	"net/http"
	"syscall"
	"time"
)

// adminHost is the in-process Caddy's admin API, which every test loads
// its config through.
const adminHost = "localhost:2999"

// Every /load, even one Caddy refuses, replaces Caddy's admin server: the
// new one listens on a fresh SO_REUSEPORT socket and the old one is shut
// down in the background (replaceLocalAdminServer, stopAdminServer).
// Connections the kernel queued on the old socket meanwhile are reset
// when it closes (unless net.ipv4.tcp_migrate_req=1 moves them to the new
// one), so a request sent in that window gets EOF or ECONNRESET without
// having been read. On an idle machine the window is tiny; at load ~8 it
// failed TestBadConfigsAreRefusedWithClearErrors (`Post
// "http://localhost:2999/load": EOF`, inside Caddy's own tester, which
// uses http.DefaultTransport; 3 of 10 runs under 6 busy loops here).
//
// adminRetry sends each admin request on a connection of its own and sends
// it again, on a new connection, while it fails so before any response:
// the request never reached a server, and the loop ends once the old
// socket is gone. Bounded by adminAttempts and adminRetryWithin.
type adminRetry struct {
	base, fresh http.RoundTripper
}

const (
	adminAttempts    = 50
	adminRetryWithin = 10 * time.Second
)

// CloseIdleConnections closes both transports' idle connections.
func (t adminRetry) CloseIdleConnections() {
	for _, rt := range []http.RoundTripper{t.base, t.fresh} {
		if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}

func (t adminRetry) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != adminHost {
		return t.base.RoundTrip(r)
	}
	deadline := time.Now().Add(adminRetryWithin)
	for attempt := 1; ; attempt++ {
		resp, err := t.fresh.RoundTrip(r)
		if err == nil || !unread(err) || attempt == adminAttempts || time.Now().After(deadline) {
			return resp, err
		}
		if r.Body != nil {
			if r.GetBody == nil {
				return nil, err // cannot send the body again
			}
			body, gerr := r.GetBody()
			if gerr != nil {
				return nil, err
			}
			r = r.Clone(r.Context())
			r.Body = body
		}
		time.Sleep(2 * time.Millisecond) // let the old admin server's goroutine close its socket
	}
}

// unread reports whether err is a connection closed or reset before any
// response: what a connection queued on a closing socket gets.
func unread(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// useAdminRetry installs adminRetry as http.DefaultTransport, which
// Caddy's tester, http.Get and http.Post use.
func useAdminRetry() {
	base := http.DefaultTransport.(*http.Transport)
	fresh := base.Clone()
	fresh.DisableKeepAlives = true
	http.DefaultTransport = adminRetry{base: base, fresh: fresh}
}
