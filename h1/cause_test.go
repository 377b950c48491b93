package h1

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// One read deadline on the socket serves the header timeout, the context
// check (bodiless requests), the wait for 100 Continue and the
// connection's own per-read bound (timeouts.read), and the transport's
// abort. Whichever ends the wait for a response head is the one named:
// ErrResponseHeaderTimeout only for the header timeout, ErrReadTimeout
// for the per-read bound (before the context check, after it, with and
// without a header timeout), the context's error when the client left;
// for a bodiless request, one with a body, and one that waits for
// 100 Continue (in silence: its body then goes, and the head is awaited).
func TestHeadWaitCauseNamed(t *testing.T) {
	kinds := []struct {
		name   string
		method string
		body   string
		expect bool
	}{
		{"bodiless", "GET", "", false},
		{"with a body", "POST", "payload", false},
		{"100-continue", "PUT", "payload", true},
	}
	causes := []struct {
		name    string
		timeout time.Duration // ResponseHeaderTimeout
		perRead time.Duration // the connection's own bound; 0: none
		check   time.Duration // abortCheck
		leave   bool          // the client leaves once the backend has the request
		want    error
	}{
		{name: "header timeout", timeout: 150 * time.Millisecond, check: 20 * time.Millisecond, want: ErrResponseHeaderTimeout},
		{name: "header timeout before the check", timeout: 50 * time.Millisecond, check: time.Hour, want: ErrResponseHeaderTimeout},
		{name: "read timeout before the check", timeout: time.Minute, perRead: 60 * time.Millisecond, check: time.Hour, want: ErrReadTimeout},
		{name: "read timeout after the check", timeout: time.Minute, perRead: 150 * time.Millisecond, check: 20 * time.Millisecond, want: ErrReadTimeout},
		{name: "read timeout, no header timeout", perRead: 150 * time.Millisecond, check: 20 * time.Millisecond, want: ErrReadTimeout},
		{name: "client leaves", timeout: time.Minute, check: 20 * time.Millisecond, leave: true, want: context.Canceled},
		{name: "client leaves, read timeout", timeout: time.Minute, perRead: time.Minute, check: 20 * time.Millisecond, leave: true, want: context.Canceled},
	}
	others := []error{ErrResponseHeaderTimeout, ErrReadTimeout, context.Canceled}
	for _, k := range kinds {
		for _, tc := range causes {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				started := make(chan struct{}, 1)
				rs := hangServer(t, started)
				cfg := Config{ResponseHeaderTimeout: tc.timeout, ExpectContinueTimeout: 30 * time.Millisecond}
				if tc.perRead > 0 {
					cfg.DialContext = perReadDial(tc.perRead)
				}
				tr := New(cfg)
				tr.abortCheck = tc.check
				defer tr.Close()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				req := mustReq(t, ctx, k.method, rs.url(), nil)
				if k.body != "" {
					req = mustReq(t, ctx, k.method, rs.url(), onceBody(k.body))
					req.ContentLength = int64(len(k.body))
				}
				if k.expect {
					req.Header.Set("Expect", "100-continue")
				}
				done := roundTripAsync(tr, req)
				if tc.leave {
					select {
					case <-started:
					case <-time.After(waitFor):
						t.Fatal("the backend got no request")
					}
					cancel()
				}
				var err error
				select {
				case err = <-done:
				case <-time.After(waitFor):
					t.Fatal("the exchange did not end")
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				for _, o := range others {
					if o != tc.want && errors.Is(err, o) {
						t.Errorf("err = %v, is %v too", err, o)
					}
				}
				if tc.want != context.Canceled && strings.Contains(err.Error(), "canceled") {
					t.Errorf("err = %v names the client", err)
				}
			})
		}
	}
}
