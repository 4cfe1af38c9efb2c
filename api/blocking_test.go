package api

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A blocking command its server lets go with MOVED (its slot moved while it waited) is sent to
// the new owner with what is left of its timeout: in all it waits about as long as its timeout
// says. (It waited its whole timeout again: a BLPOP of 2 s held 1.5 s returned after 3.6 s; here,
// one of 4 s held 3 s would return after 7 s.)
func TestBlockingCommandAcrossASlotMoveKeepsItsTimeout(t *testing.T) {
	const slot = 777
	tc, cl, _, from, to := slotOnTheMove(t, "bmt", slot, "v")
	list := keyInSlot("bmt-list", slot)
	start := time.Now()
	f := cl.Send(Cmd("BLPOP", list, 4))
	awaitBlocked(t, from)
	time.Sleep(3*time.Second - time.Since(start)) // held for a while, as a scenario
	require.NoError(t, tc.MigrateSlot(context.Background(), slot, to))
	v, err := f.Await()
	took := time.Since(start)
	require.NoError(t, err)
	assert.True(t, v.IsNull(), "the timeout's answer: %v", v)
	assert.Less(t, took, 5500*time.Millisecond, "waited %v for a 4 s timeout", took)
	assert.GreaterOrEqual(t, took, 3900*time.Millisecond, "waited %v for a 4 s timeout", took)
}
