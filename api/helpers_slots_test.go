package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/resp"
)

// MSet, MGet, Exists, Del and Unlink take keys of any slots, on every master, some sharing a slot
// by a hash tag: one command per slot, the replies merged.
func TestMultiKeyHelpersAcrossSlots(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	values := map[string]any{"{tag}a": "1", "{tag}b": []byte("2"), "{tag}c": 3}
	for i := 0; i < 40; i++ {
		values[fmt.Sprint("mk-", i)] = fmt.Sprint("v", i)
	}
	slots, masters := map[int]bool{}, map[string]bool{}
	for k := range values {
		slots[GetSlot(k)] = true
		masters[cl.NodeForKey(k).Addr()] = true
	}
	require.Greater(t, len(slots), 30)
	require.Len(t, masters, 3)
	require.NoError(t, cl.MSet(ctx, values))

	keys := []string{"missing-1"}
	want := map[string]string{}
	for k, v := range values {
		keys = append(keys, k)
		want[k] = fmt.Sprint(v)
		if b, ok := v.([]byte); ok {
			want[k] = string(b)
		}
	}
	_, err := cl.RPush(ctx, "a-list", "x") // MGET answers null for a key of another type
	require.NoError(t, err)
	got, err := cl.MGet(ctx, append(keys, "a-list", "missing-2")...)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	n, err := cl.Exists(ctx, append(keys, "mk-0")...) // named twice, counted twice
	require.NoError(t, err)
	assert.Equal(t, int64(len(values)+1), n)
	n, err = cl.Del(ctx, keys[:20]...)
	require.NoError(t, err)
	assert.Equal(t, int64(19), n, "missing-1 did not exist")
	n, err = cl.Unlink(ctx, keys...)
	require.NoError(t, err)
	assert.Equal(t, int64(len(values)-19), n)
	got, err = cl.MGet(ctx, keys...)
	require.NoError(t, err)
	assert.Empty(t, got)
}

// The per-slot helpers with no key send nothing; a value Cmd cannot send fails MSet, naming its
// key, before anything is sent; a ctx ended already sends nothing.
func TestMultiKeyHelpersEdges(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	n, err := cl.Del(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = cl.Exists(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	got, err := cl.MGet(ctx)
	require.NoError(t, err)
	assert.Empty(t, got)
	require.NoError(t, cl.MSet(ctx, nil))

	err = cl.MSet(ctx, map[string]any{"bad-1": "ok", "bad-2": struct{}{}, "bad-3": nil})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "MSET")
	assert.Regexp(t, `"bad-[23]": unsupported type (struct \{\}|<nil>)`, err.Error())
	n, err = cl.Exists(ctx, "bad-1")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing was sent")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	keys := map[string]any{}
	for i := 0; i < 20; i++ {
		keys[fmt.Sprint("late-", i)] = "v"
	}
	assert.ErrorIs(t, cl.MSet(cancelled, keys), context.Canceled)
	_, err = cl.MGet(cancelled, "x", "y")
	assert.ErrorIs(t, err, context.Canceled)
	got, err = cl.MGet(cancelled)
	require.NoError(t, err, "no key: nothing to send, whatever the ctx")
	assert.Empty(t, got)
	n, err = cl.Exists(ctx, "late-0", "late-1", "late-2", "late-3", "late-4", "late-5")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing was sent")
}

// With one master down, the commands for the other masters' slots run, and their results come
// with a *PartialError naming the failed slots, their keys and why (before, MGet returned no
// values at all, Del a count with no word of what it covered, and the error named one slot's
// failure only).
func TestMultiKeyHelpersPartialFailure(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{CommandTimeout: time.Second})
	ctx := context.Background()
	values := map[string]any{}
	var keys []string
	for i := 0; i < 12; i++ {
		k := fmt.Sprint("pk-", i)
		values[k] = k
		keys = append(keys, k)
	}
	require.NoError(t, cl.MSet(ctx, values))
	dead := tc.MasterFor(GetSlot(keys[0]))
	live := map[string]bool{}
	for _, k := range keys {
		if tc.MasterFor(GetSlot(k)) != dead {
			live[k] = true
		}
	}
	require.NotEmpty(t, live)
	require.NoError(t, tc.Kill(dead))

	checkPartial := func(err error) {
		t.Helper()
		var pe *PartialError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, len(keys)-len(live), len(slices.Concat(func() (ks [][]string) {
			for _, f := range pe.Failed {
				ks = append(ks, f.Keys)
			}
			return ks
		}()...)), "the failed commands' keys are the dead master's")
		for _, f := range pe.Failed {
			for _, k := range f.Keys {
				assert.False(t, live[k], k)
			}
			assert.Equal(t, GetSlot(f.Keys[0]), f.Slot)
			require.Error(t, f.Err)
		}
		assert.Contains(t, err.Error(), "commands (one per slot) failed")
		assert.True(t, errors.Is(err, ErrTimeout) || errors.Is(err, ErrConnection) || errors.Is(err, ErrNoRoute), "%v", err)
	}
	got, err := cl.MGet(ctx, keys...)
	checkPartial(err)
	want := map[string]string{}
	for k := range live {
		want[k] = k
	}
	assert.Equal(t, want, got, "the values read from the live masters")
	n, err := cl.Exists(ctx, keys...)
	checkPartial(err)
	assert.Equal(t, int64(len(live)), n, "the live masters' count")
}

// A server's error reply in a PartialError names the node that gave it, and still matches its
// prefix; a lone command's is Do's, the server's reply alone. (It named neither node nor command.)
func TestMultiKeyHelpersServerErrorNamesTheNode(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	cl := connect(t, tc, ClusterOptions{})
	ctx := context.Background()
	values := map[string]any{}
	for i := range 12 {
		values[fmt.Sprint("oom-", i)] = "v"
	}
	full := tc.MasterFor(GetSlot("oom-0"))
	_, err := full.Do(ctx, "CONFIG", "SET", "maxmemory", "1")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = full.Do(context.Background(), "CONFIG", "SET", "maxmemory", "0") })

	err = cl.MSet(ctx, values)
	var pe *PartialError
	require.ErrorAs(t, err, &pe)
	require.NotEmpty(t, pe.Failed)
	for _, f := range pe.Failed {
		var se *resp.Error
		require.ErrorAs(t, f.Err, &se)
		assert.Equal(t, "OOM", se.Prefix)
		assert.ErrorContains(t, f.Err, full.Addr(), "slot %d", f.Slot)
		assert.ErrorContains(t, f.Err, "MSET")
	}
	err = cl.MSet(ctx, map[string]any{"oom-0": "v"})
	var se *resp.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, se, err, "one slot: the server's reply, as Do returns it")
}
