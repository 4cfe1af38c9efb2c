package api

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/resp"
)

// An error a script or a function replies with is its reply, even with the prefix of a refusal
// (a redirect, a state to retry): it ran, and runs once per call. (A TRYAGAIN of the script's ran
// it 6 or 7 times, until CommandTimeout; a MOVED naming the node itself, 17 times, until
// MaxCommandRedirections; a function's TRYAGAIN 6 times.)
func TestScriptsOwnRefusalIsItsReply(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	addr := tc.Addrs()[0]
	cl := connect(t, tc, ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + addr}}, CommandTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runs := counted(t, ctx, cl)
	for i, reply := range []string{
		"TRYAGAIN come back later",
		"CLUSTERDOWN for maintenance",
		"LOADING please wait",
		"MASTERDOWN no",
		"READONLY the account is frozen",
		fmt.Sprintf("MOVED %d %s", GetSlot("{own}"), addr),
		fmt.Sprintf("ASK %d %s", GetSlot("{own}"), addr),
	} {
		key := "{own}" + strconv.Itoa(i)
		src := fmt.Sprintf(`redis.call("INCR", KEYS[1]); return redis.error_reply(%q)`, reply)
		_, err := NewScript(src).Run(ctx, cl, []string{key})
		var se *resp.Error
		require.ErrorAs(t, err, &se, "Run: %s", reply)
		assert.Equal(t, reply, se.Error(), "Run: the script's reply")
		_, err = cl.Do(ctx, Cmd("EVAL", src, 1, key))
		require.ErrorAs(t, err, &se, "EVAL: %s", reply)
		assert.Equal(t, "2", runs(key), "%s: once per Run, once per EVAL", reply)
	}

	lib := NewLibrary("#!lua name=own\nredis.register_function('own', function(keys) redis.call('INCR', keys[1]); " +
		"return redis.error_reply('TRYAGAIN later') end)\n")
	require.NoError(t, lib.Load(ctx, cl))
	_, err := lib.Call(ctx, cl, "own", []string{"{own}f"})
	require.ErrorContains(t, err, "TRYAGAIN later")
	assert.Equal(t, "1", runs("{own}f"), "once per Call")
}

// A script's or a function's error shaped like a redirect to another node cannot be told from the
// server's by the reply alone, but by what it names: a redirect for another slot than its keys'
// (or for a script without keys) is its reply at once, and one naming its keys' slot is followed
// once, not again: the server sends it back, and the script's reply met a second time is the
// reply. (Followed, a script's MOVED to another master ran it 10 times, a function's 9, until
// MaxCommandRedirections, with WasWritten false; a MOVED to a dead address for another slot ran
// it 20 times, until CommandTimeout.)
func TestScriptsOwnRedirectIsItsReply(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runs := counted(t, ctx, cl)
	slot := GetSlot("{redir}")
	var other string // a master that does not serve slot
	for _, m := range tc.Masters() {
		if m != tc.MasterFor(slot) {
			other = m.Addr()
		}
	}
	lib := NewLibrary("#!lua name=redir\nredis.register_function('redir', function(keys, args) " +
		"redis.call('INCR', keys[1]); return redis.error_reply(args[1]) end)\n")
	require.NoError(t, lib.Load(ctx, cl))
	for i, c := range []struct {
		reply string
		runs  string // by a Call, and by a Run of a script the node has (one that loads it runs once more)
	}{
		{fmt.Sprintf("MOVED %d %s", slot, other), "2"},
		{fmt.Sprintf("ASK %d %s", slot, other), "2"},
		{fmt.Sprintf("MOVED %d 127.0.0.1:1", (slot+1)%16384), "1"},
		{fmt.Sprintf("ASK %d %s", (slot+1)%16384, other), "1"},
		{"MOVED nonsense", "1"},
	} {
		script := NewScript(fmt.Sprintf(`redis.call("INCR", KEYS[1]); return redis.error_reply(%q)`, c.reply))
		var se *resp.Error
		for round, want := range []string{"", c.runs} { // a Run that loads the script, then one that does not
			key := fmt.Sprintf("{redir}%d.%d", i, round)
			_, err := script.Run(ctx, cl, []string{key})
			require.ErrorAs(t, err, &se, "Run: %s", c.reply)
			assert.Equal(t, c.reply, se.Error(), "Run: the script's reply")
			if got := runs(key); want != "" {
				assert.Equal(t, want, got, "Run: %s", c.reply)
			} else {
				assert.LessOrEqual(t, got, "3", "Run that loads: %s", c.reply)
			}
		}

		key := "{redir}f" + strconv.Itoa(i)
		_, err := lib.Call(ctx, cl, "redir", []string{key}, c.reply)
		require.ErrorAs(t, err, &se, "Call: %s", c.reply)
		assert.Equal(t, c.reply, se.Error(), "Call: the function's reply")
		assert.Equal(t, c.runs, runs(key), "Call: %s", c.reply)
	}

	// Without keys no server redirects a script: its MOVED is its reply, from whichever master ran it.
	reply := fmt.Sprintf("MOVED %d %s", slot, other)
	_, err := cl.Do(ctx, Cmd("EVAL", fmt.Sprintf(`return redis.error_reply(%q)`, reply), 0))
	var se *resp.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, reply, se.Error())
}

// counted returns what a script's INCR of key counted: how many times it ran.
func counted(t *testing.T, ctx context.Context, cl *Cluster) func(key string) string {
	return func(key string) string {
		t.Helper()
		v, err := cl.Get(ctx, key)
		require.NoError(t, err)
		return v
	}
}
