//go:build race

package yamladapter

// raceSlowdown: the race detector slows the walk several times over, so
// timing bounds are scaled by raceSlowdown.
const raceSlowdown = 10
