//go:build race

package ratelimit

// raceEnabled reports a -race build, whose bookkeeping makes the flood tests
// about five times slower (measured: 1,000,000 keys take 2.5 s per flood
// test, against 0.45 s without -race); they then flood fewer keys.
const raceEnabled = true
