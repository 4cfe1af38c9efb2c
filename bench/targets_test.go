package main

import (
	"strings"
	"testing"
)

// A cell where actoredis failed commands misses every target: failed commands count in neither
// throughput nor latency, so a client that failed every command (p99 0) would otherwise meet "p99 ≤
// rueidis's".
func TestCellsWithErrorsMissTheTargets(t *testing.T) {
	r := results{Runs: 1, Cells: []cell{
		{Op: "GET", Concurrency: 1024, Size: 16, Client: "actoredis", Run: 1, Ops: 0, Errors: 500000},
		{Op: "GET", Concurrency: 1024, Size: 16, Client: "rueidis", Run: 1, Ops: 1000000, OpsPerSec: 200000, P99us: 900},
	}}
	var b strings.Builder
	writeTargets(&b, r)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.Contains(line, "p99 ≤ rueidis") {
			if !strings.Contains(line, "GET 16 B c=1024: 500000 errors") {
				t.Errorf("a cell where actoredis failed every command meets the p99 target: %s", line)
			}
		}
	}
}
