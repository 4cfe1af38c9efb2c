package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
)

// TestBlockedPastTheTimeoutSurvivesAFailover: a BLPOP 0 that has waited longer than
// CommandTimeout when its master is failed over gets UNBLOCKED from the demoted master. The server
// did not run it, and the wait was the one it asked for: it is retried on the new master, and gets
// the element pushed there. It used to reach the caller as UNBLOCKED and, once that was retried,
// fail with ErrTimeout, its budget counted from when it was sent.
func TestBlockedPastTheTimeoutSurvivesAFailover(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	const timeout = 500 * time.Millisecond
	cl := connect(t, tc, api.ClusterOptions{CommandTimeout: timeout})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const key = "blocked-queue"
	master := tc.MasterFor(api.GetSlot(key))

	popped := cl.Send(api.Cmd("BLPOP", key, 0))
	require.Eventually(t, func() bool {
		n, err := master.BlockedClients(ctx)
		return err == nil && n == 1
	}, 10*time.Second, 10*time.Millisecond, "the BLPOP is blocked on its master")
	// The scenario, not a synchronisation: the BLPOP must have waited longer than its timeout.
	time.Sleep(timeout + 200*time.Millisecond)
	select {
	case <-popped.Done():
		t.Fatal("the BLPOP returned before anything was pushed")
	default:
	}

	require.NoError(t, tc.Failover(ctx, tc.ReplicasOf(master)[0]))
	// The retried BLPOP blocks on the new master (the map may take a moment to name it).
	require.Eventually(t, func() bool {
		select {
		case <-popped.Done():
			return true // fails below, with its error
		default:
		}
		n, err := tc.MasterFor(api.GetSlot(key)).BlockedClients(ctx)
		return err == nil && n == 1
	}, 10*time.Second, 10*time.Millisecond, "the BLPOP is blocked again, on the new master")
	select {
	case <-popped.Done():
		_, err := popped.Await()
		t.Fatalf("the BLPOP ended before anything was pushed: %v", err)
	default:
	}
	_, err := cl.Do(ctx, api.Cmd("RPUSH", key, "job"))
	require.NoError(t, err)
	v, err := popped.Await()
	require.NoError(t, err)
	require.Equal(t, 2, v.Len())
	assert.Equal(t, "job", v.Index(1).String())
}
