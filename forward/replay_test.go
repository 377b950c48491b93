package forward

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// maxReplayTotal is the handler's global replay budget.
const maxReplayTotal = 64 << 20

func TestIdempotent(t *testing.T) {
	for m, want := range map[string]bool{"GET": true, "HEAD": true, "PUT": true, "DELETE": true, "OPTIONS": true, "POST": false, "PATCH": false} {
		if got := Idempotent(httptest.NewRequest(m, "/", nil)); got != want {
			t.Errorf("%s: %v", m, got)
		}
	}
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Idempotency-Key", "k")
	if !Idempotent(r) {
		t.Error("POST with Idempotency-Key")
	}
}

func TestReplayBudget(t *testing.T) {
	b := NewReplayBudget(maxReplayTotal)
	if !b.Take(maxReplayTotal - 10) {
		t.Fatal("first take refused")
	}
	if b.Take(11) {
		t.Fatal("take past the total allowed")
	}
	if !b.Take(10) {
		t.Fatal("take up to the total refused")
	}
	b.Give(maxReplayTotal)
	if b.Held() != 0 {
		t.Fatalf("held = %d after giving all back", b.Held())
	}
}

func TestReplayBody(t *testing.T) {
	const max = 8
	tests := []struct {
		name       string
		body       string
		length     int64 // -1: unknown (chunked)
		budget     int64
		replayable bool
		held       bool
	}{
		{"small, known length", "hello", 5, maxReplayTotal, true, true},
		{"small, unknown length", "hello", -1, maxReplayTotal, true, true},
		{"too large by its length", "0123456789", 10, maxReplayTotal, false, false},
		{"too large once read", "0123456789", -1, maxReplayTotal, false, true},
		{"over the global budget", "hello", 5, 4, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("PUT", "http://example.com/", strings.NewReader(tc.body))
			r.ContentLength = tc.length
			if tc.length < 0 {
				r.TransferEncoding = []string{"chunked"}
			}
			o := NewOutbound(r, false, false)
			budget := NewReplayBudget(tc.budget)
			reset, held, err := ReplayBody(&o.Req, r, max, budget)
			if err != nil {
				t.Fatal(err)
			}
			if (reset != nil) != tc.replayable {
				t.Fatalf("replayable = %v, want %v", reset != nil, tc.replayable)
			}
			// held is what the buffer really occupies (its capacity).
			if held != budget.Held() || (held > 0) != tc.held {
				t.Fatalf("held %d (budget %d), want some: %v", held, budget.Held(), tc.held)
			}
			// Whatever happened, the whole body goes out, as many times as
			// it is replayable.
			tries := 1
			if reset != nil {
				tries = 3
			}
			for i := range tries {
				if i > 0 {
					reset()
				}
				got, err := io.ReadAll(o.Req.Body)
				if err != nil || string(got) != tc.body {
					t.Fatalf("try %d sent %q, %v; want %q", i, got, err, tc.body)
				}
			}
			budget.Give(held)
		})
	}
}

func TestReplayBodyNoBody(t *testing.T) {
	r := httptest.NewRequest("GET", "http://example.com/", nil)
	o := NewOutbound(r, false, false)
	reset, held, err := ReplayBody(&o.Req, r, 8, NewReplayBudget(0))
	if reset == nil || held != 0 || err != nil {
		t.Fatalf("a request without a body: reset %v, held %d, %v; want replayable for free", reset != nil, held, err)
	}
}

func TestReplayBodyCopiesTrailers(t *testing.T) {
	r := httptest.NewRequest("PUT", "http://example.com/", strings.NewReader("body"))
	r.ContentLength = -1
	r.TransferEncoding = []string{"chunked"}
	r.Trailer = http.Header{"X-Sum": nil}
	o := NewOutbound(r, false, false)
	r.Trailer["X-Sum"] = []string{"abc"} // as the server fills it at the end
	if reset, _, err := ReplayBody(&o.Req, r, 64, NewReplayBudget(maxReplayTotal)); reset == nil || err != nil {
		t.Fatalf("not replayable: %v", err)
	}
	if got := o.Req.Trailer["X-Sum"]; len(got) != 1 || got[0] != "abc" {
		t.Fatalf("trailer after buffering: %v", got)
	}
}
