package api

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// spin is a script that keeps its server busy for ARGV[1] milliseconds.
const spin = `local t = redis.call('TIME') local start = t[1] * 1000000 + t[2]
repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - start >= tonumber(ARGV[1]) * 1000
return 1`

// A command given a Timeout longer than CommandTimeout may run that long on its server: a script
// busy for 800 ms with a CommandTimeout of 300 ms returns, and the commands sent to its node while
// it runs wait for it and succeed, through Do, Node.Do and Tx. Without it the script fails
// with ErrTimeout, and so does every command waiting behind it, each may-have-run. (A user's-eye
// review found no way to let one slow command run past CommandTimeout.) The script stays below
// the cluster's node timeout (1 s in tests): a server busy longer is marked failing by the others,
// and the cluster answers CLUSTERDOWN.
func TestCommandTimeoutLetsASlowCommandRun(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	slow := func(d time.Duration) Command { return Cmd("EVAL", spin, 1, "{slow}script", 800).Timeout(d) }
	do := func(cmd Command) error { _, err := cl.Do(ctx, cmd); return err }
	nodeDo := func(cmd Command) error {
		_, err := cl.NodeForKey("{slow}").Do(ctx, cmd)
		return err
	}
	tx := func(cmd Command) error { _, err := cl.Tx(ctx, cmd); return err }
	for name, run := range map[string]func(Command) error{"Do": do, "Node.Do": nodeDo, "Tx": tx} {
		t.Run(name, func(t *testing.T) {
			scriptErr, incrErrs := runBehind(t, cl, run, slow(2*time.Second))
			require.NoError(t, scriptErr)
			for i, err := range incrErrs {
				assert.NoError(t, err, "INCR %d", i)
			}
		})
	}
	scriptErr, incrErrs := runBehind(t, cl, do, slow(0))
	assert.ErrorIs(t, scriptErr, ErrTimeout)
	for i, err := range incrErrs {
		assert.ErrorIs(t, err, ErrTimeout, "INCR %d", i)
		assert.True(t, WasWritten(err), "INCR %d: %v", i, err)
	}
}

// runBehind runs script with run and, once it is written, 20 INCRs of keys of its node through
// Do; it returns the script's error and the INCRs'.
func runBehind(t *testing.T, cl *Cluster, run func(Command) error, script Command) (error, []error) {
	ctx := context.Background()
	n := cl.NodeForKey("{slow}")
	require.NotNil(t, n)
	written := n.ref.Node.Stats().Commands
	done := make(chan error, 1)
	go func() { done <- run(script) }()
	require.Eventually(t, func() bool { return n.ref.Node.Stats().Commands > written }, 10*time.Second, time.Millisecond,
		"the script is never written")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = cl.Do(ctx, Cmd("INCR", fmt.Sprintf("{slow}%d", i)))
		}()
	}
	wg.Wait()
	return <-done, errs
}

// A transaction's Timeouts add up: EXEC runs its commands one after another. (It had the longest
// of them: two scripts of 420 ms with a Timeout of 450 ms each failed, having run.)
func TestTxTimeoutsAddUp(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 300 * time.Millisecond})
	slow := Cmd("EVAL", spin, 1, "{slow}script", 420).Timeout(450 * time.Millisecond)
	replies, err := cl.Tx(context.Background(), slow, slow)
	require.NoError(t, err)
	assert.Len(t, replies, 2)
}
