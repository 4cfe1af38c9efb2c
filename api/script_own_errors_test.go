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
// (or for a script without keys) is its reply at once, and one naming its keys' slot is followed,
// but not round: met again, the request fails with ErrMaxRedirections, may-have-run. (Followed, a
// script's MOVED to another master ran it 10 times, a function's 9, until MaxCommandRedirections,
// with WasWritten false; a MOVED to a dead address for another slot ran it 20 times, until
// CommandTimeout.)
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
	// check says what a run of the script or function gave: its reply, or, for one that went
	// round, ErrMaxRedirections and no more than runs.
	check := func(what, reply string, looped bool, err error, ran, runs string) {
		t.Helper()
		if looped {
			require.ErrorIs(t, err, ErrMaxRedirections, "%s: %s", what, reply)
			assert.True(t, WasWritten(err), "%s: %s: it may have run", what, reply)
			assert.ErrorContains(t, err, "may have run")
			assert.LessOrEqual(t, count(ran), count(runs), "%s: %s", what, reply)
			return
		}
		var se *resp.Error
		require.ErrorAs(t, err, &se, "%s: %s", what, reply)
		assert.Equal(t, reply, se.Error(), "%s: the script's reply", what)
		assert.Equal(t, runs, ran, "%s: %s", what, reply)
	}
	for i, c := range []struct {
		reply  string
		looped bool
	}{
		{fmt.Sprintf("MOVED %d %s", slot, other), true},
		{fmt.Sprintf("ASK %d %s", slot, other), true},
		{fmt.Sprintf("MOVED %d 127.0.0.1:1", (slot+1)%16384), false},
		{fmt.Sprintf("ASK %d %s", (slot+1)%16384, other), false},
		{"MOVED nonsense", false},
	} {
		script := NewScript(fmt.Sprintf(`redis.call("INCR", KEYS[1]); return redis.error_reply(%q)`, c.reply))
		once := "1"
		if c.looped {
			once = "2"
		}
		for round, most := range []string{"3", once} { // a Run that loads the script, then one that does not
			if !c.looped && round == 0 {
				most = "1"
			}
			key := fmt.Sprintf("{redir}%d.%d", i, round)
			_, err := script.Run(ctx, cl, []string{key})
			if round == 0 {
				if !c.looped {
					require.Error(t, err)
				}
				assert.LessOrEqual(t, count(runs(key)), count(most), "a Run that loads: %s", c.reply)
				continue
			}
			check("Run", c.reply, c.looped, err, runs(key), most)
		}
		key := "{redir}f" + strconv.Itoa(i)
		_, err := lib.Call(ctx, cl, "redir", []string{key}, c.reply)
		check("Call", c.reply, c.looped, err, runs(key), once)
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

// count is n, a count as GET returns it, as a number (-1 for none).
func count(n string) int {
	v, err := strconv.Atoi(n)
	if err != nil {
		return -1
	}
	return v
}

// A script or function that runs out of redirections before they go round may have run too (one
// of them may be its own reply): at MaxCommandRedirections 1, a script's own MOVED to another
// master ran it once and the error said it had not run (WasWritten false).
func TestScriptOutOfRedirectionsMayHaveRun(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{MaxCommandRedirections: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slot := GetSlot("{cap}")
	var other string
	for _, m := range tc.Masters() {
		if m != tc.MasterFor(slot) {
			other = m.Addr()
		}
	}
	src := fmt.Sprintf(`redis.call("INCR", KEYS[1]); return redis.error_reply("MOVED %d %s")`, slot, other)
	_, err := cl.Do(ctx, Cmd("EVAL", src, 1, "{cap}k"))
	require.ErrorIs(t, err, ErrMaxRedirections)
	assert.True(t, WasWritten(err), "it ran: %v", err)
	assert.ErrorContains(t, err, "may have run")
	assert.Equal(t, "1", counted(t, ctx, cl)("{cap}k"))
}
