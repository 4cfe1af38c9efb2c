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

// A Script goes by its digest once its master has it: the first Run meets NOSCRIPT, loads the
// source there (SCRIPT LOAD) and runs it by its digest; later Runs send EVALSHA only, and a SCRIPT
// FLUSH is met by SCRIPT LOAD again.
func TestScriptLoadsItselfWhereMissing(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	incrBy := NewScript(`return redis.call("INCRBY", KEYS[1], ARGV[1])`)
	assert.Equal(t, "7d6a962aa4923dd6a700f73ce6ad148d2fc16ec9", incrBy.Hash()) // sha1sum of the source
	key := "script-counter"
	master := tc.MasterFor(GetSlot(key))
	for i := 1; i <= 3; i++ {
		v, err := incrBy.Run(ctx, cl, []string{key}, 5)
		require.NoError(t, err)
		assert.Equal(t, int64(5*i), mustInt(t, v))
	}
	assert.Equal(t, 4, callsOf(t, master, "evalsha"))
	assert.Equal(t, 1, callsOf(t, master, "script|load"), "the source went once")
	assert.Zero(t, callsOf(t, master, "eval"))
	assert.Equal(t, 1, errorCount(t, master, "NOSCRIPT"))

	_, err := master.Do(ctx, "SCRIPT", "FLUSH")
	require.NoError(t, err)
	v, err := incrBy.Run(ctx, cl, []string{key}, 1)
	require.NoError(t, err)
	assert.Equal(t, int64(16), mustInt(t, v))
	assert.Equal(t, 2, callsOf(t, master, "script|load"), "loaded again after the flush")

	v, err = NewScript(`return redis.call("GET", KEYS[1])`).RunRO(ctx, cl, []string{key})
	require.NoError(t, err)
	assert.Equal(t, "16", v.String())
	_, err = NewScript(`return redis.call("SET", KEYS[1], "x")`).RunRO(ctx, cl, []string{key})
	require.Error(t, err, "a read-only script may not write")
	assert.NotErrorIs(t, err, ErrNoScript)
}

// A script's keys must share a slot: keys in two fail before anything is sent; a script with no
// keys runs (on some master), and a script's own error keeps its prefix.
func TestScriptKeysAndErrors(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	both := NewScript(`return redis.call("MSET", KEYS[1], ARGV[1], KEYS[2], ARGV[1])`)
	a, b := keyInSlot("script-a", 10), keyInSlot("script-b", 11)
	_, err := both.Run(ctx, cl, []string{a, b}, "v")
	require.ErrorIs(t, err, ErrCrossSlot)
	v, err := both.Run(ctx, cl, []string{"{tag}a", "{tag}b"}, "v")
	require.NoError(t, err)
	assert.Equal(t, "OK", v.String())
	got, err := cl.Get(ctx, "{tag}b")
	require.NoError(t, err)
	assert.Equal(t, "v", got)

	v, err = NewScript(`return ARGV[1] .. ARGV[2]`).Run(ctx, cl, nil, "no", "keys")
	require.NoError(t, err)
	assert.Equal(t, "nokeys", v.String())

	_, err = NewScript(`return redis.error_reply("MYERR bad input")`).Run(ctx, cl, []string{a})
	var se *resp.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "MYERR", se.Prefix)
}

// A script's own error with the NOSCRIPT prefix is its reply, not the server missing the script:
// it is not run again with EVAL, nor loaded and run again. One in the server's own words is taken
// for a miss the first time a node answers it in a Run (it may be one: see
// TestConcurrentRunsOfANewScript), so the script runs once more, and then no more. (Each Run ran
// it twice; with the server's own words, four times.)
func TestScriptsOwnNoscriptErrorIsNotAMiss(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	for _, c := range []struct {
		reply string
		runs  func(i int) int // after i Runs
	}{
		{"NOSCRIPT my own", func(i int) int { return i }},
		// The first Run meets a real miss first, and runs the script once after loading it.
		{"NOSCRIPT No matching script. Please use EVAL.", func(i int) int { return 2*i - 1 }},
	} {
		s := NewScript(fmt.Sprintf(`redis.call("INCR", KEYS[1]); return redis.error_reply(%q)`, c.reply))
		key := "{own}" + c.reply
		for i := 1; i <= 3; i++ {
			_, err := s.Run(ctx, cl, []string{key})
			require.ErrorIs(t, err, ErrNoScript)
			v, err := cl.Get(ctx, key)
			require.NoError(t, err)
			assert.Equal(t, strconv.Itoa(c.runs(i)), v, "%s: runs after %d Runs", c.reply, i)
		}
	}
}

// Callers running a script new to its node at once each meet NOSCRIPT, and each load it; one
// that asks after another's load finds the script there, which must not make the real miss pass
// for the script's own reply. (With SCRIPT EXISTS asked at the first NOSCRIPT, 44 of 480 Runs
// failed with NOSCRIPT in the review, the script not run.)
func TestConcurrentRunsOfANewScript(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const rounds, callers = 10, 16
	callAtOnce(t, rounds, callers, func(round int) error {
		s := NewScript(fmt.Sprintf(`return redis.call("INCR", KEYS[1]) + %d * 0`, round)) // new each round
		_, err := s.Run(ctx, cl, []string{"{new-script}n"})
		return err
	})
	// With no keys, each try goes to any master: one that meets NOSCRIPT on a second master must
	// not take that real miss for the script's own reply either.
	callAtOnce(t, rounds, callers, func(round int) error {
		_, err := NewScript(fmt.Sprintf("return %d", 100+round)).Run(ctx, cl, nil)
		return err
	})
	v, err := cl.Get(ctx, "{new-script}n")
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(rounds*callers), v, "each Run ran the script once")
}

// The source goes only to a node that answered NOSCRIPT: a script with no keys, which runs on
// any master, loads itself on each master it meets once (before, the EVAL after a NOSCRIPT went
// to another master chosen at random: masters that had answered NOSCRIPT stayed without it, and
// others were sent the source again and again); so does a read-only script with UseReplicas, on
// the replica and on the master (before, the replica never got it, and every RunRO sent the
// source to the master).
func TestScriptLoadsOnlyWhereMissing(t *testing.T) {
	t.Run("no keys", func(t *testing.T) {
		tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
		cl := connect(t, tc, ClusterOptions{})
		ctx := context.Background()
		s := NewScript(`return ARGV[1]`)
		for range 30 {
			v, err := s.Run(ctx, cl, nil, "x")
			require.NoError(t, err)
			require.Equal(t, "x", v.String())
		}
		for _, m := range tc.Masters() {
			noscript := errorCount(t, m, "NOSCRIPT")
			assert.LessOrEqual(t, noscript, 1, "%s answered NOSCRIPT more than once", m.Addr())
			assert.Equal(t, noscript, callsOf(t, m, "script|load"), "%s: loaded where it answered NOSCRIPT", m.Addr())
			assert.Zero(t, callsOf(t, m, "eval"), m.Addr())
		}
	})
	t.Run("read-only on replicas", func(t *testing.T) {
		tc := testcluster.New(t, testcluster.Options{Masters: 1})
		cl := connect(t, tc, ClusterOptions{UseReplicas: true})
		ctx := context.Background()
		require.Len(t, cl.Replicas(), 1)
		s := NewScript(`return redis.call("GET", KEYS[1])`)
		require.NoError(t, cl.Set(ctx, "ro-key", "v"))
		for range 20 {
			v, err := s.RunRO(ctx, cl, []string{"ro-key"})
			require.NoError(t, err)
			require.Equal(t, "v", v.String())
		}
		for _, n := range tc.Nodes() {
			assert.LessOrEqual(t, callsOf(t, n, "script|load"), 1, n.Addr())
			assert.Zero(t, callsOf(t, n, "eval_ro"), n.Addr())
		}
	})
}

// A script that replies NOSCRIPT in the server's words runs at most twice per Run, whichever
// nodes its tries reach: with no keys (any master each try), and RunRO with UseReplicas (the
// master or its replica). The second try goes to the node that answered the first, now loaded,
// whose second NOSCRIPT is then the script's own. (A try on each node it reached ran it again: 5
// runs with no keys on three masters, 3 with RunRO.)
func TestScriptsOwnNoscriptRunsAtMostTwice(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range []struct {
		name  string
		opts  ClusterOptions
		src   string
		run   func(*Script, *Cluster) error
		count []string
	}{
		{"no keys", ClusterOptions{}, "return redis.error_reply('NOSCRIPT No matching script. Please use EVAL.')",
			func(s *Script, cl *Cluster) error { _, err := s.Run(ctx, cl, nil); return err }, []string{"evalsha", "eval"}},
		{"RunRO", ClusterOptions{UseReplicas: true}, "#!lua flags=no-writes\nreturn redis.error_reply('NOSCRIPT No matching script. Please use EVAL.')",
			func(s *Script, cl *Cluster) error { _, err := s.RunRO(ctx, cl, []string{"{ro}k"}); return err }, []string{"evalsha_ro", "eval_ro"}},
	} {
		cl := connect(t, tc, c.opts)
		s := NewScript(c.src)
		for _, n := range tc.Nodes() { // every node has it: each NOSCRIPT is the script's
			_, err := n.Do(ctx, "SCRIPT", "LOAD", c.src)
			require.NoError(t, err)
		}
		for range 12 {
			for _, n := range tc.Nodes() {
				_, err := n.Do(ctx, "CONFIG", "RESETSTAT")
				require.NoError(t, err)
			}
			require.ErrorIs(t, c.run(s, cl), ErrNoScript)
			runs := 0
			for _, n := range tc.Nodes() {
				for _, cmd := range c.count {
					runs += callsOf(t, n, cmd)
				}
			}
			require.LessOrEqual(t, runs, 2, "%s: one Run ran the script %d times", c.name, runs)
		}
	}
}

// RunRO with UseReplicas: a script that met NOSCRIPT on a replica, run again there once loaded,
// and answering Nil, is checked with the master, as a routed RunRO's Nil is (the replica may lack
// a key the master has). (The pinned try's Nil came back unchecked: 6 of 12 fresh scripts returned
// Nil for a key the master had.)
func TestRunROOnAReplicaChecksItsNilWithTheMaster(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: 1})
	cl := connect(t, tc, ClusterOptions{UseReplicas: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const key = "ro-unreplicated"
	master, replica := tc.Masters()[0], tc.Replicas()[0]
	// On the master only, as on a replica lagging behind.
	_, err := master.Do(ctx, "EVAL", "redis.set_repl(redis.REPL_NONE) return redis.call('SET', KEYS[1], ARGV[1])", "1", key, "v1")
	require.NoError(t, err)
	require.Len(t, cl.Replicas(), 1)
	const src = `return redis.call('GET', KEYS[1])`
	for i := range 12 { // new scripts: each meets NOSCRIPT on the node it first reaches
		v, err := NewScript(fmt.Sprintf("%s -- %d", src, i)).RunRO(ctx, cl, []string{key})
		require.NoError(t, err)
		require.Equal(t, "v1", v.String(), "script %d", i)
	}
	assert.Positive(t, callsOf(t, replica, "script|load"), "scripts were loaded on the replica")
}
