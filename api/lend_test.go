package api

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// A caller alone in Do routes and writes its command on its own goroutine (dispatcher.SendAlone).
// These are the ways that could go wrong.
func TestLoneDo(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	t.Run("with a cancelled context runs nothing", func(t *testing.T) { cancelledLoneDo(t, tc) })
	t.Run("that panics leaves no caller counted", func(t *testing.T) { panicInDo(t, tc) })
	t.Run("beside a blocking Do is counted alone", func(t *testing.T) { besideBlockingDo(t, tc) })
	// Last: it stops a master.
	t.Run("of a large value holds nobody", func(t *testing.T) { largeLoneWrite(t, tc) })
}

// A lone Do is written before it looks at its ctx: one whose ctx is cancelled already must not be,
// or its command would run.
func cancelledLoneDo(t *testing.T, tc *testcluster.Cluster) {
	cl := connect(t, tc, ClusterOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 {
		_, err := cl.Do(ctx, Cmd("INCR", "lend:cancelled"))
		require.ErrorIs(t, err, context.Canceled)
	}
	_, err := cl.Get(context.Background(), "lend:cancelled")
	require.ErrorIs(t, err, Nil, "a cancelled Do ran its command")
}

// doneless is a context that panics when Do waits on it: Do has counted its caller by then.
type doneless struct{ context.Context }

func (doneless) Done() <-chan struct{} { panic("doneless: Done") }

// A panic inside Do (while it waits) does not leave the client counting a caller that is gone,
// which would keep every later lone caller from being lent the actors. (The BLPOP cannot be
// answered before Do waits, so the wait is certain to ask for Done.)
func panicInDo(t *testing.T, tc *testcluster.Cluster) {
	cl := connect(t, tc, ClusterOptions{})
	require.Panics(t, func() {
		_, _ = cl.Do(doneless{context.Background()}, Cmd("BLPOP", "lend:empty", 5))
	})
	assert.Zero(t, cl.inDo.Load())
}

// A caller of BLPOP 0 waits on a dedicated connection for as long as it takes: counted, it would keep
// every other caller alone in Do from being lent the actors all that time.
func besideBlockingDo(t *testing.T, tc *testcluster.Cluster) {
	cl := connect(t, tc, ClusterOptions{})
	bg := context.Background()
	key := "lend:blocked"
	master := tc.MasterFor(GetSlot(key))
	popped := make(chan string, 1)
	go func() {
		v, err := cl.Do(bg, Cmd("BLPOP", key, 0))
		if err != nil {
			popped <- err.Error()
			return
		}
		popped <- v.Index(1).String()
	}()
	awaitBlocked(t, master)
	assert.Zero(t, cl.inDo.Load(), "a blocked BLPOP counted as a caller")
	for i := range 20 {
		require.NoError(t, cl.Set(bg, "lend:beside", i))
		v, err := cl.Get(bg, "lend:beside")
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(i), v)
	}
	_, err := cl.Do(bg, Cmd("RPUSH", key, "x"))
	require.NoError(t, err)
	assert.Equal(t, "x", <-popped)
	assert.Zero(t, cl.inDo.Load())
}

// A lone Do of a value larger than the socket buffers, to a master that reads nothing, is written
// by the node actor, not by its caller: the Do ends with its ctx, long before the command timeout,
// and the next command, for another master, is routed at once.
func largeLoneWrite(t *testing.T, tc *testcluster.Cluster) {
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 30 * time.Second})
	stuck, other := "lend:a", ""
	for _, k := range []string{"lend:b", "lend:c", "lend:d", "lend:e", "lend:f", "lend:g"} {
		if tc.MasterFor(GetSlot(k)) != tc.MasterFor(GetSlot(stuck)) {
			other = k
			break
		}
	}
	require.NotEmpty(t, other)
	bg := context.Background()
	require.NoError(t, cl.Set(bg, stuck, "x"))
	require.NoError(t, cl.Set(bg, other, "y"))

	// The cluster has no replica to promote: once the others mark the stopped master failed (after
	// about 1.8 s, which a loaded machine reaches before the last step), they would answer
	// CLUSTERDOWN for every slot unless told to serve those they have.
	for _, m := range tc.Masters() {
		_, err := m.Do(bg, "CONFIG", "SET", "cluster-require-full-coverage", "no")
		require.NoError(t, err)
	}
	pid := tc.MasterFor(GetSlot(stuck)).PID()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()

	// A lone GET reads its own reply (node.Options.Alone) for a moment only: a ctx with no
	// deadline, cancelled while the master sleeps, ends it.
	ctx, cancel := context.WithCancel(bg)
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := cl.Do(ctx, Cmd("GET", stuck))
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 15*time.Second, "the Do waited for its reply, not for its ctx")

	ctx, cancel = context.WithTimeout(bg, 300*time.Millisecond)
	start = time.Now()
	_, err = cl.Do(ctx, Cmd("SET", stuck, strings.Repeat("v", 32<<20)))
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 15*time.Second, "the Do waited for its write, not for its ctx")

	ctx, cancel = context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	v, err := cl.Get(ctx, other)
	require.NoError(t, err, "a command for a healthy master waited behind the blocked write")
	assert.Equal(t, "y", v)
}
