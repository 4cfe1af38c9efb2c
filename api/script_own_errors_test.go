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
	runs := func(key string) string {
		t.Helper()
		v, err := cl.Get(ctx, key)
		require.NoError(t, err)
		return v
	}
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
