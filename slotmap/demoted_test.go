package slotmap

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// After a failover, graceful ones included, the cluster lists the demoted master for a moment (up
// to about half a second, seen by a review) as a master serving no slot, before it is listed as
// the new master's replica. A map built in that moment looks again a second later: before, it
// kept the demoted master among the masters (Masters, where FUNCTION LOAD and the like go) and out
// of the replicas (no reads with UseReplicas) until the periodic refresh, 29 s in the review.
// A master that never served slots (added, not yet given any) is no such change.
func TestDemotedMasterListedWithoutSlotsIsLookedForAgain(t *testing.T) {
	node := func(port int, role string) NodeInfo {
		return NodeInfo{Host: "127.0.0.1", Port: port, Role: role, Health: "online"}
	}
	low, high := [][2]int{{0, 8191}}, [][2]int{{8192, NumSlots - 1}}
	a := newBuildingActor(t, Options{})
	a.onDiscovered(nil, &discovered{shards: []Shard{
		{Ranges: low, Master: node(1, "master"), Replicas: []NodeInfo{node(2, "replica")}},
		{Ranges: high, Master: node(3, "master")},
	}})
	require.NotNil(t, a.snap)
	require.False(t, a.scheduled)

	a.onDiscovered(nil, &discovered{shards: []Shard{
		{Ranges: low, Master: node(2, "master")},
		{Master: node(1, "master")}, // the demoted master, for a moment
		{Ranges: high, Master: node(3, "master")},
	}})
	assert.Len(t, a.snap.Masters(), 3, "listed as the cluster says, for now")
	assert.True(t, a.scheduled, "the map looks again")
	assert.InDelta(t, settleAfterLoss, time.Until(a.scheduledAt), float64(300*time.Millisecond))
	// A refresh asked for meanwhile (the READONLY of a write sent to the demoted master) takes that
	// look early, still within the moment: the map looks again a second after it, a few times.
	// (Once: the map kept the demoted master for good, Library.Load failing on it.)
	for look := range settleLooks + 1 {
		a.refreshTimer.Stop()
		a.scheduled = false
		a.onDiscovered(nil, &discovered{shards: []Shard{
			{Ranges: low, Master: node(2, "master")},
			{Master: node(1, "master")},
			{Ranges: high, Master: node(3, "master")},
		}})
		assert.Equal(t, look < settleLooks, a.scheduled, "look %d", look)
	}
	a.refreshTimer.Stop()
	a.scheduled = false

	a.onDiscovered(nil, &discovered{shards: []Shard{
		{Ranges: low, Master: node(2, "master"), Replicas: []NodeInfo{node(1, "replica")}},
		{Ranges: high, Master: node(3, "master")},
		{Master: node(4, "master")}, // a new master, no slot yet
	}})
	assert.Len(t, a.snap.Replicas(), 1, "the demoted master is a replica now")
	assert.False(t, a.scheduled, "a master that never served slots is nothing to look at again")
}
