package forward

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// flushCounter is a ResponseWriter that counts flushes and can fail its
// writes.
type flushCounter struct {
	*httptest.ResponseRecorder
	flushes int
	fail    error
}

func (f *flushCounter) Write(p []byte) (int, error) {
	if f.fail != nil {
		return 0, f.fail
	}
	return f.ResponseRecorder.Write(p)
}

func (f *flushCounter) Flush() { f.flushes++ }

// chunks returns one chunk per Read.
type chunks struct{ parts []string }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	c.parts = c.parts[1:]
	return n, nil
}

func TestCopyBody(t *testing.T) {
	for _, flush := range []bool{false, true} {
		w := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
		n, err := CopyBody(w, &chunks{[]string{"a", "bc", "def"}}, flush)
		if err != nil || n != 6 || w.Body.String() != "abcdef" {
			t.Fatalf("flush %v: %d, %v, %q", flush, n, err, w.Body.String())
		}
		if want := map[bool]int{false: 0, true: 3}[flush]; w.flushes != want {
			t.Errorf("flush %v: %d flushes, want %d", flush, w.flushes, want)
		}
	}
}

func TestCopyBodyErrors(t *testing.T) {
	broken := errors.New("backend reset")
	w := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
	if _, err := CopyBody(w, io.MultiReader(strings.NewReader("x"), errReader{broken}), false); !errors.Is(err, broken) || errors.Is(err, ErrClientGone) {
		t.Errorf("a failing backend: %v, want its error, not ErrClientGone", err)
	}
	gone := errors.New("broken pipe")
	w = &flushCounter{ResponseRecorder: httptest.NewRecorder(), fail: gone}
	if _, err := CopyBody(w, strings.NewReader("x"), false); !errors.Is(err, ErrClientGone) || !errors.Is(err, gone) {
		t.Errorf("a failing client: %v, want ErrClientGone with the cause", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestShouldFlush(t *testing.T) {
	tests := []struct {
		length int64
		ct     string
		want   bool
	}{
		{-1, "text/html", true},
		{10, "text/event-stream", true},
		{10, "Text/Event-Stream; charset=utf-8", true},
		{10, "text/html", false},
		{10, "text/event", false},
	}
	for _, tc := range tests {
		resp := &http.Response{ContentLength: tc.length, Header: http.Header{"Content-Type": {tc.ct}}}
		if got := ShouldFlush(resp); got != tc.want {
			t.Errorf("%d %q: %v, want %v", tc.length, tc.ct, got, tc.want)
		}
	}
}
