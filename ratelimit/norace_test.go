//go:build !race

package ratelimit

// raceEnabled reports a -race build (see race_test.go).
const raceEnabled = false
