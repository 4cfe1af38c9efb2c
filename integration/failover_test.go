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

// TestMasterFailover SIGKILLs a master under load. Every command completes within its deadline;
// errors are counted by kind; the time from the replica's promotion to the last failed command is
// the recovery time; afterwards every acknowledged write is read back, and writes lost to
// asynchronous replication are counted, not hidden. Then the killed master restarts and rejoins as
// a replica, and the load goes on without errors. A Hooks.CommandDone counts every command
// through it all.
func TestMasterFailover(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	const timeout = 5 * time.Second
	var hooked tally
	cl := connect(t, tc, api.ClusterOptions{CommandTimeout: timeout, Hooks: api.Hooks{CommandDone: hooked.done}})
	l := startLoad(t, cl, 64)
	waitOps(t, l, 5000)

	ctx := context.Background()
	victim := tc.Masters()[0]
	killed := time.Now()
	require.NoError(t, tc.Kill(victim))
	promoted, err := tc.WaitForFailover(ctx, victim)
	require.NoError(t, err)
	promotedAt := time.Now()
	// A replica until now: it answered nothing.
	answeredBefore := hooked.answered(promoted.Addr())
	waitOps(t, l, 20000) // well past the failover
	r := l.report()
	// Recovery: from the promotion until the last command held up by the failover (failed, or
	// slower than slowOp) completed — from then on, everything succeeds at full speed.
	recovery := time.Duration(0)
	for _, at := range []time.Time{r.lastErr, r.lastSlow} {
		if at.After(promotedAt) {
			recovery = max(recovery, at.Sub(promotedAt))
		}
	}
	t.Logf("promotion of %s %s after the kill; recovery %s after the promotion",
		promoted.Addr(), promotedAt.Sub(killed).Round(time.Millisecond), recovery.Round(time.Millisecond))

	// The old master comes back as a replica of the new one; the load keeps running.
	require.NoError(t, tc.Restart(ctx, victim))
	assert.Equal(t, testcluster.RoleReplica, victim.Role())
	errsBefore := l.report().total()
	waitOps(t, l, 20000)
	errsAfterRejoin := l.report().total() - errsBefore

	l.halt()
	r = l.report()
	hooked.check(t, l, r) // every command reported once, those that failed as failed
	assert.Greater(t, hooked.answered(promoted.Addr()), answeredBefore, "the hook saw the promoted master answer")
	l.verify(t, &r)
	t.Logf("failover: %s; errors after the rejoin: %d", r, errsAfterRejoin)
	assert.LessOrEqual(t, r.maxWait, timeout+time.Second, "every command completed within its deadline")
	assert.Zero(t, errsAfterRejoin, "the rejoin of the old master as a replica costs no error")
	assert.Less(t, recovery, 2*time.Second, "traffic recovers soon after the promotion")
	assert.Zero(t, r.errs["GET other"]+r.errs["SET other"], "every error is of a known kind")
}
