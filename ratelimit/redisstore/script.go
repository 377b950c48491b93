package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// takeScript takes up to ARGV[3] tokens from the bucket at KEYS[1], which
// refills at ARGV[1] tokens a second up to ARGV[2] tokens, and returns
//
//	{granted, whole tokens left, µs until full, µs until one whole token}
//
// The bucket is stored as GCRA's theoretical arrival time: the server time,
// in microseconds, at which it is full again, a single number. tokens(now) =
// burst - max(0, tat-now) × rate, which is the token bucket of
// package ratelimit (full when first seen, capped at burst, a request that
// finds no token changes nothing), granting min(wanted, whole tokens). Time
// is the server's TIME, so instances whose clocks disagree share one bucket.
// The key expires when the bucket is full again: deleting a full bucket
// changes no decision, and idle keys cost Redis nothing.
//
// Since Redis 5 a script that reads TIME and then writes is replicated by
// its effects; replicate_commands turns that on for 3.2 and 4 and is a no-op
// (kept for compatibility) later.
const takeScript = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local step = 1000000 / rate
local span = burst * step
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local debt = tat - now
local avail = math.floor((span - debt) / step + 1e-9)
local grant = math.min(want, math.max(avail, 0))
if grant > 0 then
  tat = tat + grant * step
  debt = tat - now
  redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', math.ceil(debt / 1000) + 1)
end
local left = math.max(math.floor((span - debt) / step + 1e-9), 0)
local nxt = 0
if left < 1 then nxt = math.max(math.ceil(debt - span + step), 1) end
return {grant, left, math.ceil(debt), nxt}
`

// script is takeScript ready for EVALSHA, falling back to EVAL when the
// server does not hold it yet (after a restart or SCRIPT FLUSH).
var script = redis.NewScript(takeScript)

// grant is what one call of takeScript reports.
type grant struct {
	// granted is the number of tokens taken, 0 to the number asked for.
	granted int
	// left is the whole tokens the shared bucket holds after the call.
	left int
	// full is the time until the shared bucket is full again.
	full time.Duration
	// next is the time until the shared bucket holds a whole token again;
	// 0 when it holds one now.
	next time.Duration
}

// errReply is returned for a script reply of an unexpected shape, which
// means the server at Address is not running our script (or is not Redis).
var errReply = errors.New("unexpected reply from the rate limit script")

// ask is one kind of script call, prepared once: its arguments, and the
// bounds a reply to it must stay within.
type ask struct {
	// args are (rate, burst, wanted), formatted once so that a call boxes
	// nothing.
	args []any
	// want and burst bound granted and left.
	want, burst int
	// full and next, in microseconds, bound the reply's times: the time
	// to refill the whole burst, and one token (the script rounds each up,
	// hence the extra microsecond).
	full, next int64
}

// newAsk prepares the call asking for want tokens of a bucket of burst
// tokens refilled at rate a second.
func newAsk(rate float64, burst, want int) *ask {
	return &ask{
		args: []any{
			strconv.FormatFloat(rate, 'g', -1, 64),
			strconv.Itoa(burst),
			strconv.Itoa(want),
		},
		want:  want,
		burst: burst,
		full:  int64(math.Ceil(float64(burst)/rate*1e6)) + 1,
		next:  int64(math.Ceil(1e6/rate)) + 1,
	}
}

// take runs takeScript for rkey as a asks.
func take(ctx context.Context, c redis.Scripter, rkey string, a *ask) (grant, error) {
	v, err := script.Run(ctx, c, []string{rkey}, a.args...).Slice()
	if err != nil {
		return grant{}, err
	}
	return a.parse(v)
}

// parse turns a script reply into a grant. Redis decides requests, so it is
// trusted that far, and no further: a reply that is not four non-negative
// integers is an error (errReply, counted as Redis being unavailable), and
// a number beyond what the script can return is clamped to its bound, so no
// reply grants more tokens than were asked for, reports more than the burst
// left, or a wait longer than the bucket takes to refill.
func (a *ask) parse(v []any) (grant, error) {
	if len(v) != 4 {
		return grant{}, fmt.Errorf("%w: %d values", errReply, len(v))
	}
	var n [4]int64
	for i, x := range v {
		k, ok := x.(int64)
		if !ok || k < 0 {
			return grant{}, fmt.Errorf("%w: value %d is %T %.40v", errReply, i, x, x)
		}
		n[i] = k
	}
	return grant{
		granted: int(min(n[0], int64(a.want))),
		left:    int(min(n[1], int64(a.burst))),
		full:    time.Duration(min(n[2], a.full)) * time.Microsecond,
		next:    time.Duration(min(n[3], a.next)) * time.Microsecond,
	}, nil
}
