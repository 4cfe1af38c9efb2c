package api

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testwait"
)

// Removes of shard channels whose slot leaves their node before the server reads the
// SUNSUBSCRIBEs: the server has already dropped the channels, with the frames that would have
// answered the commands, and then answers each command with a MOVED. Those MOVEDs are taken for
// what they are, not as refusals of the commands they meet (here an Add's SSUBSCRIBE, which would
// have been written again, and the SUNSUBSCRIBE of a channel of the same slot, whose refusal
// would have closed the connection): the connection stays, with the channels kept on it, and no
// gap is said.
func TestRemoveRacingItsSlotsMove(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{ClientName: "racing", TopologyRefreshInterval: -1})
	errs := errorsOf(cl)
	ctx := context.Background()
	from := tc.Masters()[0]
	to := otherMaster(tc, from)
	var slots []int // two of from's
	for s := 0; len(slots) < 2; s++ {
		if tc.MasterFor(s) == from {
			slots = append(slots, s)
		}
	}
	goneB, goneA := keyInSlot("gone-b", slots[0]), keyInSlot("gone-a", slots[0])
	other, kept := keyInSlot("other", slots[1]), keyInSlot("kept", slots[1])
	sub, err := cl.SSubscribe(ctx, goneB, goneA, other, kept)
	require.NoError(t, err)
	defer sub.Close()
	ssubscribes, err := from.InfoCount(ctx, "commandstats", "cmdstat_ssubscribe", "calls")
	require.NoError(t, err)
	var first *link
	inspect(t, sub, func(r *subRun) { first = r.linkOf(kept) })
	require.NotNil(t, first)

	// The server reads nothing the client writes until the slot has gone: the SUNSUBSCRIBEs wait.
	_, err = from.Do(ctx, "CLIENT", "PAUSE", "3000", "ALL")
	require.NoError(t, err)
	require.NoError(t, sub.Remove(goneB))
	require.NoError(t, sub.Remove(goneA))
	added := keyInSlot("added", slots[1])
	adding := make(chan error, 1)
	go func() { adding <- sub.Add(ctx, added) }()
	awaitState(t, sub, "the Add written", func(r *subRun) bool { return r.linkOf(added) != nil })
	require.NoError(t, sub.Remove(other))
	_, err = to.Do(ctx, "CLUSTER", "SETSLOT", strconv.Itoa(slots[0]), "IMPORTING", from.ID())
	require.NoError(t, err)
	_, err = to.Do(ctx, "CLUSTER", "SETSLOT", strconv.Itoa(slots[0]), "NODE", to.ID())
	require.NoError(t, err)
	// from learns by gossip, paused or not, that it lost the slot, and drops gone-a and gone-b, in
	// that order: gone-b's frame looks like the first SUNSUBSCRIBE's answer, gone-a's answers
	// nothing (it is not the name of the oldest), while the pause holds the others.
	awaitState(t, sub, "the slot's names dropped by the server", func(r *subRun) bool { return len(first.sent) < 4 })
	inspect(t, sub, func(r *subRun) {
		require.Len(t, first.sent, 3)
		require.Equal(t, []string{goneA}, first.sent[0].names)
		require.Equal(t, []string{added}, first.sent[1].names, "the pause still holds the Add's SSUBSCRIBE")
		require.Equal(t, []string{other}, first.sent[2].names)
	})

	// The pause ends: a MOVED for each of the first two SUNSUBSCRIBEs (the first meets the
	// second, of its slot: done, as the names have gone; the second meets the Add's SSUBSCRIBE, of
	// another slot, and answers nothing), then the answers to the Add and the last SUNSUBSCRIBE.
	awaitState(t, sub, "the SUNSUBSCRIBEs answered", func(r *subRun) bool {
		return len(first.sent) == 0 || r.links[from.Addr()] != first
	})
	inspect(t, sub, func(r *subRun) { assert.Same(t, first, r.links[from.Addr()], "the connection kept") })
	require.NoError(t, testwait.Recv(t, adding, "the Add did not return"))
	held, pending := names(t, sub)
	assert.Equal(t, []string{added, kept}, held)
	assert.Empty(t, pending)
	awaitSubscribed(t, tc, "racing", "ssub", 2, 1)
	select {
	case err := <-errs:
		assert.Fail(t, "an EventError", "%v", err)
	default:
	}
	moved, err := from.InfoCount(ctx, "errorstats", "errorstat_MOVED", "count")
	require.NoError(t, err)
	require.Equal(t, 2, moved, "the server read the first SUNSUBSCRIBEs after the slot had gone")
	now, err := from.InfoCount(ctx, "commandstats", "cmdstat_ssubscribe", "calls")
	require.NoError(t, err)
	assert.Equal(t, ssubscribes+1, now, "the Add's SSUBSCRIBE written once")
	spublish(t, cl, kept, "still")
	assert.Equal(t, Message{Channel: kept, Payload: "still"}, nextMessage(t, sub))
}
