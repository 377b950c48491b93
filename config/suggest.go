package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownKey is wrapped by the error UnknownKey returns.
var ErrUnknownKey = errors.New("unknown key")

// UnknownKey is the error for key, which is not among known, in the
// mapping described by where (`the top level`, `rate_limit`): it names the
// nearest known key when one is close enough to be a likely typo, else it
// lists the known keys. The JSON decoder, the yaml adapter and the
// Caddyfile directive all word unknown keys this way.
func UnknownKey(key, where string, known []string) error {
	if s := Nearest(key, known); s != "" {
		return fmt.Errorf("%w %q in %s (did you mean %q?)", ErrUnknownKey, key, where, s)
	}
	return fmt.Errorf("%w %q in %s (known keys: %s)", ErrUnknownKey, key, where, strings.Join(known, ", "))
}

// Nearest returns the known key with the smallest edit distance to key
// (a prefix either way counts as 2), if that distance is at most 2 or a
// third of the key's length (so long keys tolerate more typos); the first
// one wins a tie. It returns "" when no key is that close.
func Nearest(key string, known []string) string {
	best, bestD := "", -1
	lk := strings.ToLower(key)
	for _, k := range known {
		d := distance(lk, k)
		if len(lk) >= 3 && (strings.HasPrefix(k, lk) || strings.HasPrefix(lk, k)) {
			d = min(d, 2) // "health" for "health_check", "warning" for "warn"
		}
		if bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if bestD < 0 || (bestD > 2 && bestD > len(key)/3) {
		return ""
	}
	return best
}

// distance is the Levenshtein distance between a and b, over bytes (keys
// are ASCII; a non-ASCII typo only counts a little more).
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		// Not a typo of any key; skip the quadratic work.
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Where describes the mapping at path for an error message: "the top
// level" for the empty path, else the path.
func Where(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}
