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
		n, err := CopyBody(w, &chunks{[]string{"a", "bc", "def"}}, -1, flush)
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
	if _, err := CopyBody(w, io.MultiReader(strings.NewReader("x"), errReader{broken}), -1, false); !errors.Is(err, broken) || errors.Is(err, ErrClientGone) {
		t.Errorf("a failing backend: %v, want its error, not ErrClientGone", err)
	}
	gone := errors.New("broken pipe")
	w = &flushCounter{ResponseRecorder: httptest.NewRecorder(), fail: gone}
	if _, err := CopyBody(w, strings.NewReader("x"), 1, false); !errors.Is(err, ErrClientGone) || !errors.Is(err, gone) {
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

// readSizes records the size of every buffer it is asked to fill, giving
// n bytes in all.
type readSizes struct {
	n     int
	sizes []int
}

func (r *readSizes) Read(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

// A body known to be larger than a small buffer is read through a large
// one, while the budget lasts; streams, small and unknown lengths use small
// ones; every buffer goes back to the budget, after errors too.
func TestCopyBodyBuffers(t *testing.T) {
	tests := []struct {
		name  string
		size  int64
		flush bool
		held  int // large buffers taken by others
		want  int
	}{
		{"1 MiB", 1 << 20, false, 0, largeBuffer},
		{"one byte over a small buffer", smallBuffer + 1, false, 0, largeBuffer},
		{"a small buffer's worth", smallBuffer, false, 0, smallBuffer},
		{"unknown length", -1, false, 0, smallBuffer},
		{"a stream that flushes", 1 << 20, true, 0, smallBuffer},
		{"the last large buffer", 1 << 20, false, LargeBuffers - 1, largeBuffer},
		{"budget spent", 1 << 20, false, LargeBuffers, smallBuffer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var held []*[]byte
			for range tc.held {
				bp, large := getBuffer(1<<20, false)
				if !large {
					t.Fatal("budget spent before the test")
				}
				held = append(held, bp)
			}
			src := &readSizes{n: int(max(tc.size, 100))}
			w := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
			n, err := CopyBody(w, src, tc.size, tc.flush)
			if err != nil || n != int64(max(tc.size, 100)) {
				t.Fatalf("copied %d, %v", n, err)
			}
			if src.sizes[0] != tc.want {
				t.Errorf("read into %d bytes, want %d", src.sizes[0], tc.want)
			}
			for _, bp := range held {
				putBuffer(bp, true)
			}
			if got := largeInUse.Load(); got != 0 {
				t.Errorf("%d large buffers still counted in use", got)
			}
		})
	}
	t.Run("errors give the buffer back", func(t *testing.T) {
		w := &flushCounter{ResponseRecorder: httptest.NewRecorder(), fail: errors.New("broken pipe")}
		if _, err := CopyBody(w, strings.NewReader(strings.Repeat("x", 1<<16)), 1<<20, false); !errors.Is(err, ErrClientGone) {
			t.Fatalf("%v, want ErrClientGone", err)
		}
		if _, err := CopyBody(httptest.NewRecorder(), errReader{io.ErrUnexpectedEOF}, 1<<20, false); err != io.ErrUnexpectedEOF {
			t.Fatalf("%v, want the read error", err)
		}
		if got := largeInUse.Load(); got != 0 {
			t.Errorf("%d large buffers still counted in use", got)
		}
	})
}
