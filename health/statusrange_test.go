package health

import (
	"errors"
	"testing"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in       string
		min, max int
		err      bool
	}{
		{"200", 200, 200, false},
		{" 204 ", 204, 204, false},
		{"2xx", 200, 299, false},
		{"5XX", 500, 599, false},
		{"1xx", 100, 199, false},
		{"200-299", 200, 299, false},
		{"200 - 399", 200, 399, false},
		{"404-404", 404, 404, false},
		{"", 0, 0, true},
		{"20", 0, 0, true},
		{"2000", 0, 0, true},
		{"099", 0, 0, true},
		{"600", 0, 0, true},
		{"6xx", 0, 0, true},
		{"0xx", 0, 0, true},
		{"2x", 0, 0, true},
		{"x00", 0, 0, true},
		{"2xy", 0, 0, true},
		{"299-200", 0, 0, true},
		{"200-", 0, 0, true},
		{"-200", 0, 0, true},
		{"200-299-399", 0, 0, true},
		{"+20", 0, 0, true},
		{"2e2", 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseStatus(tc.in)
			if tc.err {
				if !errors.Is(err, ErrInvalidStatus) {
					t.Fatalf("ParseStatus(%q) = %v, %v; want ErrInvalidStatus", tc.in, r, err)
				}
				return
			}
			if err != nil || r.Min != tc.min || r.Max != tc.max {
				t.Fatalf("ParseStatus(%q) = %v, %v; want %d-%d", tc.in, r, err, tc.min, tc.max)
			}
		})
	}
}

func TestStatusRangeString(t *testing.T) {
	for in, want := range map[string]string{"200": "200", "2xx": "2xx", "200-299": "2xx", "200-399": "200-399", "250-299": "250-299"} {
		r, err := ParseStatus(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseStatus(%q).String() = %q, %v; want %q", in, r.String(), err, want)
		}
	}
	r := StatusRange{Min: 200, Max: 204}
	for code, want := range map[int]bool{199: false, 200: true, 204: true, 205: false} {
		if r.Contains(code) != want {
			t.Errorf("%v.Contains(%d) = %v", r, code, !want)
		}
	}
}

// FuzzParseStatus: any input either fails with ErrInvalidStatus or gives a
// valid range that survives a round trip through String.
func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"200", "2xx", "200-299", "5XX", " 404 ", "299-200", "", "-", "1x", "999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseStatus(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidStatus) {
				t.Fatalf("ParseStatus(%q) error %v does not wrap ErrInvalidStatus", s, err)
			}
			return
		}
		if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
			t.Fatalf("ParseStatus(%q) = %v: not a valid range", s, r)
		}
		back, err := ParseStatus(r.String())
		if err != nil || back != r {
			t.Fatalf("round trip of %q: %v -> %q -> %v, %v", s, r, r.String(), back, err)
		}
		if !r.Contains(r.Min) || !r.Contains(r.Max) || r.Contains(r.Min-1) || r.Contains(r.Max+1) {
			t.Fatalf("%v.Contains wrong at its edges", r)
		}
	})
}
