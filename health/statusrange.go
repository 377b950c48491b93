package health

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidStatus is returned by ParseStatus, wrapped with the bad input.
var ErrInvalidStatus = errors.New("invalid expected status")

// StatusRange is an inclusive range of HTTP status codes that an active
// check accepts. A single code is a range with Min == Max.
type StatusRange struct {
	Min, Max int
}

// ParseStatus reads an expect_status value in one of three spellings:
// a code ("200"), a class ("2xx", any case: 200-299), or an inclusive range
// ("200-399"). Codes must be 100-599, the ones HTTP defines, and a range may
// not run backwards. Surrounding spaces are ignored.
func ParseStatus(s string) (StatusRange, error) {
	t := strings.TrimSpace(s)
	if len(t) == 3 && (t[1] == 'x' || t[1] == 'X') && (t[2] == 'x' || t[2] == 'X') {
		if t[0] < '1' || t[0] > '5' {
			return StatusRange{}, fmt.Errorf("%w %q: class must be 1xx to 5xx", ErrInvalidStatus, s)
		}
		c := int(t[0]-'0') * 100
		return StatusRange{Min: c, Max: c + 99}, nil
	}
	lo, hi, isRange := strings.Cut(t, "-")
	first, err := parseCode(s, lo)
	if err != nil {
		return StatusRange{}, err
	}
	if !isRange {
		return StatusRange{Min: first, Max: first}, nil
	}
	last, err := parseCode(s, hi)
	if err != nil {
		return StatusRange{}, err
	}
	if last < first {
		return StatusRange{}, fmt.Errorf("%w %q: range runs backwards", ErrInvalidStatus, s)
	}
	return StatusRange{Min: first, Max: last}, nil
}

// parseCode reads one three-digit status code; whole is the full input, for
// the error message.
func parseCode(whole, part string) (int, error) {
	part = strings.TrimSpace(part)
	if len(part) != 3 {
		return 0, fmt.Errorf("%w %q: want a code like 200, a class like 2xx or a range like 200-299", ErrInvalidStatus, whole)
	}
	for i := 0; i < len(part); i++ {
		if part[i] < '0' || part[i] > '9' {
			return 0, fmt.Errorf("%w %q: %q is not a status code", ErrInvalidStatus, whole, part)
		}
	}
	n, _ := strconv.Atoi(part) // three ASCII digits cannot fail
	if n < 100 || n > 599 {
		return 0, fmt.Errorf("%w %q: code %d is outside 100-599", ErrInvalidStatus, whole, n)
	}
	return n, nil
}

// Contains reports whether code lies in the range.
func (r StatusRange) Contains(code int) bool {
	return code >= r.Min && code <= r.Max
}

// String gives the range back in its shortest spelling ("200", "2xx",
// "200-399"), for error messages that quote what was expected.
func (r StatusRange) String() string {
	switch {
	case r.Min == r.Max:
		return strconv.Itoa(r.Min)
	case r.Min%100 == 0 && r.Max == r.Min+99:
		return strconv.Itoa(r.Min/100) + "xx"
	}
	return strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max)
}
