package ratelimit

import (
	"math"
	"strconv"
	"time"
)

// RetryAfterSeconds is RetryAfter in whole seconds rounded up, the
// delay-seconds form of the Retry-After field: a client that waits this long
// finds a token. It is 0 for an allowed request and at least 1 for a refused
// one, since a refused request always has a wait ahead.
func (d Decision) RetryAfterSeconds() int64 { return ceilSeconds(d.RetryAfter) }

// ResetSeconds is Reset in whole seconds rounded up, the "t" parameter of the
// RateLimit field: 0 only when the bucket is full.
func (d Decision) ResetSeconds() int64 { return ceilSeconds(d.Reset) }

// AppendHeader appends the RateLimit field value for d to buf and returns
// the extended buffer: `"default";r=<Remaining>;t=<ResetSeconds>`
// (draft-ietf-httpapi-ratelimit-headers-11, section 4). With a buffer of
// capacity 48 or more it allocates nothing.
func (d Decision) AppendHeader(buf []byte) []byte {
	buf = append(buf, '"')
	buf = append(buf, PolicyName...)
	buf = append(buf, `";r=`...)
	buf = strconv.AppendInt(buf, int64(max(d.Remaining, 0)), 10)
	buf = append(buf, ";t="...)
	return strconv.AppendInt(buf, d.ResetSeconds(), 10)
}

// AppendRetryAfter appends the Retry-After field value for d (delay-seconds,
// RetryAfterSeconds) to buf and returns the extended buffer.
func (d Decision) AppendRetryAfter(buf []byte) []byte {
	return strconv.AppendInt(buf, d.RetryAfterSeconds(), 10)
}

// ceilSeconds rounds a non-negative duration up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 && s < math.MaxInt64 {
		s++
	}
	return s
}
