//go:build race

package api

// raceEnabled: under the race detector, sync.Pool drops a quarter of what is put back, so a
// reused Future is allocated again now and then.
const raceEnabled = true
