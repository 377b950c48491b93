package smartproxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-smartproxy/smartproxy/forward"
	"github.com/caddy-smartproxy/smartproxy/h1"
)

func TestClientFault(t *testing.T) {
	mbe := &http.MaxBytesError{Limit: 10}
	tests := []struct {
		name   string
		err    error
		body   error // what the client's body reader failed with
		status int   // 0: the backend's fault
	}{
		{name: "dial refused", err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")},
		{name: "body over max_size", err: errors.New("write: broken"), body: mbe, status: 413},
		{name: "malformed chunk", err: errors.New("write failed"), body: errors.New("invalid byte in chunk length"), status: 400},
		{name: "h1 body error", err: fmt.Errorf("backend x: %w", &h1.RequestBodyError{Err: errors.New("bad chunk")}), status: 400},
		{name: "h1 body error, max bytes", err: &h1.RequestBodyError{Err: mbe}, status: 413},
		{name: "h1 invalid header", err: fmt.Errorf("x: %w", h1.ErrInvalidHeader), status: 400},
		{name: "net/http invalid header", err: errors.New(`net/http: invalid header field value for "X-A"`), status: 400},
		{name: "http2 invalid header", err: errors.New(`invalid HTTP header value for header "X-A"`), status: 400},
		{name: "http2 header list", err: errors.New("request header list larger than peer's advertised limit"), status: 431},
		{name: "backend reset", err: io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body *forward.Body
			if tc.body != nil {
				body = forward.NewBody(io.MultiReader(strings.NewReader("ab"), errReader{tc.body}), nil, nil)
				_, _ = io.ReadAll(body)
			}
			got := clientFault(tc.err, body)
			if tc.status == 0 {
				if got != nil {
					t.Fatalf("clientFault = %v, want the backend's fault", got)
				}
				return
			}
			var ce *clientError
			if !errors.As(got, &ce) || ce.status != tc.status {
				t.Fatalf("clientFault = %v, want status %d", got, tc.status)
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
