package redisstore

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestParseReply(t *testing.T) {
	// 100/s, burst 10, asking for 5: full in 100 ms, a token in 10 ms.
	a := newAsk(100, 10, 5)
	const us = time.Microsecond
	tests := []struct {
		name  string
		reply []any
		want  grant
		err   bool
	}{
		{"a script reply", []any{int64(5), int64(4), int64(60_000), int64(0)}, grant{5, 4, 60 * time.Millisecond, 0}, false},
		{"refused", []any{int64(0), int64(0), int64(100_000), int64(7_000)}, grant{0, 0, 100 * time.Millisecond, 7 * time.Millisecond}, false},
		{"the script's rounding", []any{int64(0), int64(10), int64(100_001), int64(10_001)}, grant{0, 10, 100_001 * us, 10_001 * us}, false},
		{"granted more than asked", []any{int64(6), int64(0), int64(0), int64(0)}, grant{granted: 5}, false},
		{"everything at the maximum", []any{int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64)},
			grant{5, 10, 100_001 * us, 10_001 * us}, false},
		{"negative", []any{int64(-1), int64(0), int64(0), int64(0)}, grant{}, true},
		{"a negative wait", []any{int64(1), int64(0), int64(0), int64(-1)}, grant{}, true},
		{"a string", []any{"5", int64(0), int64(0), int64(0)}, grant{}, true},
		{"a float", []any{int64(1), 2.5, int64(0), int64(0)}, grant{}, true},
		{"a nil", []any{int64(1), int64(0), nil, int64(0)}, grant{}, true},
		{"a nested array", []any{int64(1), int64(0), int64(0), []any{int64(0)}}, grant{}, true},
		{"three values", []any{int64(1), int64(0), int64(0)}, grant{}, true},
		{"five values", []any{int64(1), int64(0), int64(0), int64(0), int64(0)}, grant{}, true},
		{"none", nil, grant{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := a.parse(tc.reply)
			if tc.err {
				if !errors.Is(err, errReply) {
					t.Fatalf("got %+v, %v; want errReply", g, err)
				}
				return
			}
			if err != nil || g != tc.want {
				t.Fatalf("got %+v, %v; want %+v", g, err, tc.want)
			}
		})
	}
}
