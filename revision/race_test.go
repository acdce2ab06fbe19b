//go:build race

package revision

// raceEnabled tells that the race detector, which slows yaml.v3 about
// twentyfold, is on.
const raceEnabled = true
