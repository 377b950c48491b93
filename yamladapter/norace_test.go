//go:build !race

package yamladapter

// raceSlowdown scales timing bounds; 1 without the race detector.
const raceSlowdown = 1
