package redisstore

import (
	"context"
	"errors"
	"fmt"
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

// take runs takeScript for rkey with args (rate, burst, wanted), precomputed
// as strings so that a call boxes nothing.
func take(ctx context.Context, c redis.Scripter, rkey string, args []any) (grant, error) {
	v, err := script.Run(ctx, c, []string{rkey}, args...).Slice()
	if err != nil {
		return grant{}, err
	}
	if len(v) != 4 {
		return grant{}, fmt.Errorf("%w: %d values", errReply, len(v))
	}
	var n [4]int64
	for i, x := range v {
		k, ok := x.(int64)
		if !ok || k < 0 {
			return grant{}, fmt.Errorf("%w: value %d is %v", errReply, i, x)
		}
		n[i] = k
	}
	return grant{
		granted: int(n[0]),
		left:    int(n[1]),
		full:    time.Duration(n[2]) * time.Microsecond,
		next:    time.Duration(n[3]) * time.Microsecond,
	}, nil
}

// scriptArgs formats the script's arguments once.
func scriptArgs(rate float64, burst, want int) []any {
	return []any{
		strconv.FormatFloat(rate, 'g', -1, 64),
		strconv.Itoa(burst),
		strconv.Itoa(want),
	}
}
