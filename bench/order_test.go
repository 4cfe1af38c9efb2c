package main

import (
	"testing"

	"go.uber.org/goleak"
)

// rueidis's cluster client, once closed, leaves a goroutine sleeping out the rest of a 5 s pause
// between topology refreshes (rueidis v1.0.79, cluster.go, _refresh); it is not the bench's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*clusterClient)._refresh.func2"))
}

// Over as many runs as there are clients, every client runs in every place of every cell, and
// each order holds every client once.
func TestClientOrderRotatesOverCellsAndRuns(t *testing.T) {
	names := []string{"a", "b", "c"}
	for cell := range 30 { // the full matrix's cells: a multiple of the client count
		places := map[string]map[int]bool{}
		for run := 1; run <= len(names); run++ {
			order := clientOrder(names, cell, run)
			seen := map[string]bool{}
			for place, name := range order {
				if seen[name] {
					t.Fatalf("cell %d run %d: %v runs %s twice", cell, run, order, name)
				}
				seen[name] = true
				if places[name] == nil {
					places[name] = map[int]bool{}
				}
				places[name][place] = true
			}
			if len(seen) != len(names) {
				t.Fatalf("cell %d run %d: %v leaves a client out", cell, run, order)
			}
		}
		for _, name := range names {
			if len(places[name]) != len(names) {
				t.Errorf("cell %d: %s ran only in places %v over %d runs", cell, name, places[name], len(names))
			}
		}
	}
	if a, b := clientOrder(names, 0, 1)[0], clientOrder(names, 1, 1)[0]; a == b {
		t.Errorf("consecutive cells of a run start with the same client %s", a)
	}
}
