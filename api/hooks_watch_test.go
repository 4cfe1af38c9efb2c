package api

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// callKey tells one call's ctx from another's in the reports.
type callKey struct{}

// call returns a ctx of its own for one call, and the reports given with it so far.
func (r *reports) call(name string) (context.Context, func() []CommandDone) {
	ctx := context.WithValue(context.Background(), callKey{}, name)
	return ctx, func() []CommandDone {
		r.mu.Lock()
		defer r.mu.Unlock()
		var mine []CommandDone
		for _, d := range r.done {
			if d.Ctx == ctx {
				mine = append(mine, d)
			}
		}
		return mine
	}
}

// hooked starts a cluster of two masters without replicas and a client reporting to r.
func hooked(t *testing.T, r *reports) (*testcluster.Cluster, *Cluster) {
	tc := testcluster.New(t, testcluster.Options{Masters: 2, Replicas: testcluster.NoReplicas})
	return tc, connect(t, tc, ClusterOptions{Hooks: Hooks{CommandDone: r.hook}})
}

// A Watch whose WATCH meets ASK, waits the migration out and sends it again, is reported once,
// as its caller gets it: at the node that ran it. (Each try was a report of its own: a review saw
// seven reports of ASK and MOVED for one Watch that succeeded.)
func TestWatchReportsItsWATCHOnce(t *testing.T) {
	var r reports
	tc, cl := hooked(t, &r)
	ctx := context.Background()
	const key = "{hw}k"
	slot := GetSlot(key)
	from := tc.MasterFor(slot)
	to := otherMaster(tc, from)
	require.NoError(t, cl.Set(ctx, key, 1))
	require.NoError(t, tc.BeginMigration(ctx, slot, to))
	require.NoError(t, tc.MigrateKeys(ctx, from, to, key))
	asks := errorCount(t, from, "ASK")
	call, mine := r.call("watch")
	done := make(chan error, 1)
	go func() { done <- cl.Watch(call, func(*WatchTx) error { return nil }, key) }()
	require.Eventually(t, func() bool { return errorCount(t, from, "ASK") >= asks+3 }, 5*time.Second,
		5*time.Millisecond, "the WATCH met ASK three times")
	require.NoError(t, tc.FinishMigration(ctx, slot, to))
	require.NoError(t, <-done)
	got := mine()
	require.Len(t, got, 1, "reports: %v", got)
	assert.Equal(t, "WATCH", got[0].Name)
	assert.NoError(t, got[0].Err)
	assert.Equal(t, to.Addr(), got[0].Addr, "the node that ran it")
}

// A command of a Watch sent again through CLUSTERDOWN is reported once, as its caller gets it.
// (Each try was a report of its own: a review saw six CLUSTERDOWN reports and a success for one
// tx.Do.)
func TestWatchTxDoReportedOnceThroughClusterDown(t *testing.T) {
	var r reports
	tc, cl := hooked(t, &r)
	ctx := context.Background()
	const key = "{hd}k"
	down := clusterDownFor(t, tc, key)
	require.NoError(t, cl.Set(ctx, key, "v"))
	call, mine := r.call("get")
	var v string
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		down.take(ctx)
		refused := errorCount(t, down.owner, "CLUSTERDOWN")
		back := make(chan struct{})
		go func() { // polls the server's count of refusals: there is no event to await
			defer close(back)
			assert.Eventually(t, func() bool { return errorCount(t, down.owner, "CLUSTERDOWN") >= refused+3 },
				10*time.Second, 10*time.Millisecond, "the GET met CLUSTERDOWN three times")
			down.giveBack(ctx)
		}()
		got, err := tx.Do(call, Cmd("GET", key))
		<-back
		v = got.String()
		return err
	}, key)
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	got := mine()
	require.Len(t, got, 1, "reports: %v", got)
	assert.Equal(t, "GET", got[0].Name)
	assert.NoError(t, got[0].Err)
	assert.Equal(t, down.owner.Addr(), got[0].Addr)
}

// An EXEC a watched key's change made the server refuse (a null reply) is reported with the error
// Exec returns, ErrTxFailed (it was reported as a success); a WatchTx.Do and an Exec refused
// before anything is sent are reported too, as Do's and Tx's are.
func TestWatchReportsWhatItsCallerGets(t *testing.T) {
	var r reports
	_, cl := hooked(t, &r)
	ctx := context.Background()
	const key = "{hx}k"
	refusedDo, refusedDoReports := r.call("refused Do")
	refusedExec, refusedExecReports := r.call("refused Exec")
	execCall, execReports := r.call("exec")
	var doErr, refusedErr, execErr error
	err := cl.Watch(ctx, func(tx *WatchTx) error {
		_, doErr = tx.Do(refusedDo, Cmd("SET", key, struct{}{}))
		_, refusedErr = tx.Exec(refusedExec, Cmd("WATCH", key))
		require.NoError(t, cl.Set(ctx, key, "changed")) // on another connection: EXEC is refused
		_, execErr = tx.Exec(execCall, Cmd("SET", key, "mine"))
		return execErr
	}, key)
	require.ErrorIs(t, err, ErrTxFailed)

	got := execReports()
	var execs []CommandDone
	for _, d := range got {
		if d.Name == "EXEC" {
			execs = append(execs, d)
		}
	}
	require.Len(t, execs, 1, "reports: %v", got)
	assert.ErrorIs(t, execs[0].Err, ErrTxFailed)
	assert.Equal(t, execErr, execs[0].Err, "what Exec returned")

	require.Error(t, doErr)
	require.Len(t, refusedDoReports(), 1)
	assert.Equal(t, doErr, refusedDoReports()[0].Err)
	require.Error(t, refusedErr)
	require.Len(t, refusedExecReports(), 1)
	assert.Equal(t, "MULTI", refusedExecReports()[0].Name, "as Tx's transaction is named")
	assert.Equal(t, refusedErr, refusedExecReports()[0].Err)
}

// A second Exec, refused before anything is sent, is reported too, as the first refusal of a
// binding is.
func TestWatchExecCalledTwiceIsReported(t *testing.T) {
	var r reports
	_, cl := hooked(t, &r)
	const key = "{hz}k"
	call, mine := r.call("watch")
	var second error
	err := cl.Watch(call, func(tx *WatchTx) error {
		if _, err := tx.Exec(call, Cmd("SET", key, "w")); err != nil {
			return err
		}
		_, second = tx.Exec(call, Cmd("SET", key, "x"))
		return nil
	}, key)
	require.NoError(t, err)
	require.Error(t, second)
	var refused []CommandDone
	for _, d := range mine() {
		if d.Err != nil {
			refused = append(refused, d)
		}
	}
	require.Len(t, refused, 1)
	assert.Equal(t, second, refused[0].Err)
}
