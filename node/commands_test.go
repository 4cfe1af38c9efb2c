package node

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/resp"
)

// A command that answers with push frames (or with nothing) would take the next command's reply:
// it is refused before it is written, and the commands around it get their own replies.
func TestConnectionCommandsAreRefused(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr()})
	ctx := context.Background()
	_, err := n.Do(ctx, "SET", "a", "value-of-a")
	require.NoError(t, err)
	_, err = n.Do(ctx, "SET", "b", "value-of-b")
	require.NoError(t, err)

	name := []byte("unsubscribe")
	refused := []*Request{
		NewRequest("UNSUBSCRIBE"), NewRequest("subscribe", "ch"), NewRequest("SSUBSCRIBE", "ch"),
		NewRequest(name), NewRequest(&name), NewRequest("CLIENT", "reply", "off"),
		NewRequest("RESET"), NewRequest("HELLO", "2"), NewRequest("MONITOR"), NewRequest("QUIT"),
		NewRequest("REPLCONF", "ACK", "0"), NewRequest("AUTH", "default", "pw"), NewRequest("READWRITE"),
	}
	unit := NewRequest("MULTI")
	unit.More = [][]any{{"PSUBSCRIBE", "p*"}, {"EXEC"}}
	openMulti := NewRequest("MULTI") // no EXEC: later callers' commands would be queued
	openMulti.More = [][]any{{"SET", "a", "1"}}
	openWatch := NewRequest("WATCH", "a")
	openWatch.More = [][]any{{"GET", "a"}}
	waitForever := NewRequest("SET", "c", "1") // a unit's WAIT 0 would hold the connection for good
	waitForever.More = [][]any{{"WAIT", 1, 0}}
	blocks := NewRequest("GET", "a") // and a BLPOP outside MULTI for its whole timeout
	blocks.More = [][]any{{"BLPOP", "q", 0}}
	refused = append(refused, unit, openMulti, openWatch, waitForever, blocks)
	empty := NewRequest() // "*0" gets no reply from the server
	getA, getB := NewRequest("GET", "a"), NewRequest("GET", "b")
	n.Send(refused[0])
	n.Send(getA)
	for _, r := range refused[1:] {
		n.Send(r)
	}
	n.Send(empty)
	n.Send(getB)

	_, err = empty.Await()
	require.ErrorIs(t, err, resp.ErrEmptyCommand)
	assert.Contains(t, err.Error(), srv.Addr())
	for _, r := range refused {
		_, err := r.Await()
		require.ErrorIs(t, err, ErrUnsupportedCommand, "%v", r.Args)
		assert.Contains(t, err.Error(), srv.Addr())
		assert.Contains(t, err.Error(), r.Name())
	}
	v, err := getA.Await()
	require.NoError(t, err)
	assert.Equal(t, "value-of-a", v.String())
	v, err = getB.Await()
	require.NoError(t, err)
	assert.Equal(t, "value-of-b", v.String())

	// Inside MULTI a blocking command is queued, and does not block: the unit runs.
	tx := NewRequest("MULTI")
	tx.More = [][]any{{"BLPOP", "q", 0}, {"EXEC"}}
	n.Send(tx)
	_, err = tx.Await()
	require.NoError(t, err)

	// CLIENT's other subcommands, and names of the same lengths, pass.
	v, err = n.Do(ctx, "CLIENT", "GETNAME")
	require.NoError(t, err)
	assert.True(t, v.IsNull())
	_, err = n.Do(ctx, "HSET", "h", "f", "v")
	require.NoError(t, err)

	d, err := n.Dedicated(ctx)
	require.NoError(t, err)
	defer d.Release()
	_, err = d.Do(ctx, "SUBSCRIBE", "ch")
	require.ErrorIs(t, err, ErrUnsupportedCommand)
	v, err = d.Do(ctx, "GET", "a")
	require.NoError(t, err)
	assert.Equal(t, "value-of-a", v.String())
}

func TestCommandNamesInEveryForm(t *testing.T) {
	blpop, xread, block := []byte("blpop"), []byte("XREAD"), []byte("BLOCK")
	assert.True(t, Blocks([]any{blpop, "q", 0}))
	assert.True(t, Blocks([]any{&blpop, "q", 0}))
	assert.True(t, Blocks([]any{xread, "BLOCK", "0", "STREAMS", "s", "$"}))
	assert.True(t, Blocks([]any{"XREAD", &block, "0", "STREAMS", "s", "$"}))
	assert.False(t, Blocks([]any{[]byte("GET"), "k"}))
	assert.False(t, Blocks([]any{"XREAD", "STREAMS", "block", "0"}), "a stream named block")
	assert.False(t, Blocks([]any{"XREADGROUP", "GROUP", "block", "c", "STREAMS", "s", ">"}), "a group named block")
	assert.Equal(t, "BLPOP", CommandName([]any{&blpop}))
	assert.Equal(t, "BLPOP", CommandName([]any{blpop}))

	for _, args := range [][]any{{"GET", "k"}, {"SET", "k", "v"}, {"HGET", "h", "f"}, {"CLIENT", "ID"}, {"CLIENT"}, {"PUBLISH", "c", "m"}, {"SPUBLISH", "c", "m"}} {
		assert.False(t, unsupported(args), "%v", args)
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		unsupported([]any{"hget", "h", "f"})
		Blocks([]any{"xadd", "s", "*", "f", "v"})
	}), "lower-case names are matched without allocating")
}

// The arguments of a WAIT come in every form the api and callers use; a bare transaction command
// is a class of its own (refused alone on the shared connection, allowed in a unit).
func TestClassify(t *testing.T) {
	name, one, hundred := "WAIT", int64(1), int64(100)
	for _, args := range [][]any{{"WAIT", 1, 100}, {&name, &one, &hundred}, {"wait", "1", "100"}, {[]byte("WAIT"), uint64(1), int32(100)}} {
		c, ms, ok := classify(args)
		assert.Equal(t, waiting, c, "%v", args)
		assert.True(t, ok)
		assert.Equal(t, int64(100), ms)
	}
	for _, timeout := range []any{false, 0.0, 5000.0, true} { // written as 0, 0, 5000, 1
		c, ms, ok := classify([]any{"WAIT", 1, timeout})
		assert.Equal(t, waiting, c)
		assert.True(t, ok, "%v is read as the server will read it", timeout)
		want, _ := resp.ArgInt(timeout)
		assert.Equal(t, want, ms)
	}
	c, _, ok := classify([]any{"WAIT", 1, "soon"})
	assert.Equal(t, waiting, c)
	assert.False(t, ok, "an unreadable timeout is left to the server")
	for _, n := range []string{"MULTI", "exec", "Discard", "WATCH", "UNWATCH"} {
		c, _, _ := classify([]any{n})
		assert.Equal(t, transaction, c, n)
	}
	for _, n := range []string{"GET", "SADD", "MSET", "CLIENT", "WAITX"} {
		c, _, _ := classify([]any{n, "x"})
		assert.Equal(t, ordinary, c, n)
	}
}

func TestUnitLeftOpen(t *testing.T) {
	for _, tc := range []struct {
		cmds  [][]any
		leave bool
	}{
		{[][]any{{"MULTI"}, {"SET", "a", "1"}, {"EXEC"}}, false},
		{[][]any{{"WATCH", "a"}, {"GET", "a"}, {"MULTI"}, {"SET", "a", "2"}, {"EXEC"}}, false},
		{[][]any{{"MULTI"}, {"SET", "a", "1"}, {"DISCARD"}}, false},
		{[][]any{{"WATCH", "a"}, {"UNWATCH"}}, false},
		{[][]any{{"multi"}, {"SET", "a", "1"}}, true},
		{[][]any{{"SET", "a", "1"}, {"MULTI"}}, true},
		{[][]any{{"WATCH", "a"}, {"GET", "a"}}, true},
		{[][]any{{"EXEC"}, {"WATCH", "a"}}, true},    // an EXEC outside MULTI ends nothing
		{[][]any{{"DISCARD"}, {"MULTI"}}, true},      // nor a DISCARD
		{[][]any{{"WATCH", "a"}, {"DISCARD"}}, true}, // ... and keeps the watch
		{[][]any{{"MULTI"}, {"UNWATCH"}, {"EXEC"}}, false},
	} {
		assert.Equal(t, tc.leave, scanUnit(tc.cmds[0], tc.cmds[1:]).leftOpen, "%v", tc.cmds)
	}
}

func TestBlockingWait(t *testing.T) {
	for _, tc := range []struct {
		args    []any
		wait    time.Duration
		forever bool
	}{
		{[]any{"BLPOP", "a", "b", 2}, 2 * time.Second, false},
		{[]any{"BRPOP", "a", "0.5"}, 500 * time.Millisecond, false},
		{[]any{"BZPOPMIN", "a", 1.5}, 1500 * time.Millisecond, false},
		{[]any{"BLMOVE", "a", "b", "LEFT", "RIGHT", []byte("3")}, 3 * time.Second, false},
		{[]any{"BLMPOP", 4, 1, "a", "LEFT"}, 4 * time.Second, false},
		{[]any{"XREAD", "COUNT", 1, "BLOCK", 250, "STREAMS", "s", "$"}, 250 * time.Millisecond, false},
		{[]any{"xreadgroup", "GROUP", "g", "c", "block", "0", "STREAMS", "s", ">"}, 0, true},
		{[]any{"BLPOP", "a", 0}, 0, true},
		{[]any{"BLPOP", "a", "0.0"}, 0, true},
		{[]any{"BLPOP", "a", "soon"}, 0, false},       // refused by the server at once
		{[]any{"BLPOP", "a", "10000000000"}, 0, true}, // valid, and beyond a century
		{[]any{"XREAD", "BLOCK", "10000000000000", "STREAMS", "s", "$"}, 0, true},
		{[]any{"XREADGROUP", "GROUP", "block", "c", "BLOCK", 5, "STREAMS", "s", ">"}, 5 * time.Millisecond, false},
		{[]any{"XREAD", "BLOCK", 100, "BLOCK", 0, "STREAMS", "s", "$"}, 0, true}, // the last BLOCK counts, as on the server
		{[]any{"XREAD", "BLOCK", 0, "BLOCK", 100, "STREAMS", "s", "$"}, 100 * time.Millisecond, false},
		{[]any{"BLPOP", "a", "nan"}, 0, false}, // refused by the server
	} {
		wait, forever := blockingWait(tc.args)
		assert.Equal(t, tc.wait, wait, "%v", tc.args)
		assert.Equal(t, tc.forever, forever, "%v", tc.args)
	}
}

// A blocking command sent again after a server held it waits only what is left of its timeout.
func TestLessWait(t *testing.T) {
	for _, tc := range []struct {
		args []any
		held time.Duration
		want []any
		over bool
	}{
		{[]any{"BLPOP", "a", "b", 3}, 1250 * time.Millisecond, []any{"BLPOP", "a", "b", "1.750"}, false},
		{[]any{"BLMPOP", "2.5", 1, "a", "LEFT"}, time.Second, []any{"BLMPOP", "1.500", 1, "a", "LEFT"}, false},
		{[]any{"XREAD", "BLOCK", 900, "STREAMS", "s", "$"}, 400 * time.Millisecond, []any{"XREAD", "BLOCK", "500", "STREAMS", "s", "$"}, false},
		{[]any{"BLPOP", "a", 3}, 2999999 * time.Microsecond, []any{"BLPOP", "a", "0.001"}, false}, // never 0: forever
		{[]any{"XREAD", "BLOCK", 900, "STREAMS", "s", "$"}, 899900 * time.Microsecond, []any{"XREAD", "BLOCK", "1", "STREAMS", "s", "$"}, false},
		{[]any{"BLPOP", "a", 3}, 3 * time.Second, nil, true},
		{[]any{"BLPOP", "a", 0}, time.Minute, []any{"BLPOP", "a", 0}, false}, // forever stays
		{[]any{"BLPOP", "a", 3}, 0, []any{"BLPOP", "a", 3}, false},
		{[]any{"BLPOP", "a", "soon"}, time.Second, []any{"BLPOP", "a", "soon"}, false},
	} {
		cut, over := lessWait(tc.args, tc.held)
		assert.Equal(t, tc.want, cut, "%v less %v", tc.args, tc.held)
		assert.Equal(t, tc.over, over, "%v less %v", tc.args, tc.held)
	}
	args := []any{"BLPOP", "a", 3}
	lessWait(args, time.Second)
	assert.Equal(t, []any{"BLPOP", "a", 3}, args, "the command's own args are left as they are")
}

func TestBareTransactionCommandsAreRefused(t *testing.T) {
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := startNode(t, Options{Addr: srv.Addr()})
	ctx := context.Background()
	_, err := n.Do(ctx, "SET", "a", "1")
	require.NoError(t, err)
	for _, cmd := range [][]any{{"MULTI"}, {"EXEC"}, {"DISCARD"}, {"WATCH", "a"}, {"UNWATCH"}} {
		_, err := n.Do(ctx, cmd...)
		require.ErrorIs(t, err, ErrUnsupportedCommand, "%v", cmd)
	}
	v, err := n.Do(ctx, "GET", "a")
	require.NoError(t, err)
	assert.Equal(t, "1", v.String(), "no MULTI queued another caller's command")
}
