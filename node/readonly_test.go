package node

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
	"github.com/actoredis/actoredis/internal/testproxy"
)

// connFlags returns the flags (CLIENT LIST) of srv's connections named name: "r" for READONLY,
// "N" for none.
func connFlags(t *testing.T, srv *testcluster.Node, name string) []string {
	t.Helper()
	v, err := srv.Do(context.Background(), "CLIENT", "LIST")
	require.NoError(t, err)
	var flags []string
	for _, line := range strings.Split(v.(string), "\n") {
		if !strings.Contains(" "+line+" ", " name="+name+" ") {
			continue
		}
		for _, field := range strings.Fields(line) {
			if f, ok := strings.CutPrefix(field, "flags="); ok {
				flags = append(flags, f)
			}
		}
	}
	return flags
}

// SetReadOnly switches the live connection (READWRITE, READONLY), and the setting outlives the
// actor restarted after a panic, whose connection says it in its handshake. (The restarted actor
// went back to Options.ReadOnly, and the next SetReadOnly, the same as before, sent nothing: a
// master's connection stayed READONLY. A review found it.)
func TestReadOnlySettingOutlivesARestart(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	srv := tc.Masters()[0]
	var panicAt atomic.Bool
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), ReadOnly: true, ClientName: "ro-restart", OnEvent: func(e Event) {
		events.record(e)
		if e.Type == EventDisconnect && panicAt.CompareAndSwap(true, false) {
			panic("a panic the test injects")
		}
	}})
	ctx := context.Background()
	_, err := n.Do(ctx, "PING")
	require.NoError(t, err)
	require.Equal(t, []string{"r"}, connFlags(t, srv, "ro-restart"))
	n.SetReadOnly(false)
	_, err = n.Do(ctx, "PING") // written after the READWRITE
	require.NoError(t, err)
	require.Equal(t, []string{"N"}, connFlags(t, srv, "ro-restart"))

	panicAt.Store(true)
	_, err = srv.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
	require.NoError(t, err)
	events.waitFor(t, EventDisconnect, 10*time.Second)
	events.waitFor(t, EventReady, 10*time.Second)
	n.SetReadOnly(false) // unchanged: nothing to send
	require.Eventually(t, func() bool { _, err := n.Do(ctx, "PING"); return err == nil }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"N"}, connFlags(t, srv, "ro-restart"), "the restarted actor's connection")
}

// A server that refuses the READWRITE (an ACL without it) is reported (the disconnect's cause),
// and the connection is replaced: a new connection is READWRITE without asking. (The refusal was dropped unseen, and
// the connection stayed READONLY.)
func TestRefusedReadWriteReplacesTheConnection(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas,
		Users: []testcluster.User{{Name: "noreadwrite", Password: "pw", Rules: []string{"on", "~*", "&*", "+@all", "-readwrite"}}}})
	srv := tc.Masters()[0]
	events := newEventLog()
	n := startNode(t, Options{Addr: srv.Addr(), Username: "noreadwrite", Password: "pw", ReadOnly: true,
		ClientName: "ro-refused", OnEvent: events.record})
	ctx := context.Background()
	_, err := n.Do(ctx, "PING")
	require.NoError(t, err)
	n.SetReadOnly(false)
	e := events.waitFor(t, EventDisconnect, 10*time.Second)
	assert.Contains(t, e.Err.Error(), "READWRITE")
	assert.Contains(t, e.Err.Error(), "NOPERM")
	events.waitFor(t, EventReady, 10*time.Second)
	require.Eventually(t, func() bool {
		_, err := n.Do(ctx, "PING")
		return err == nil && strings.Join(connFlags(t, srv, "ro-refused"), ",") == "N"
	}, 5*time.Second, 10*time.Millisecond, "a new connection, not READONLY: %v", connFlags(t, srv, "ro-refused"))
}

// Dedicated connections follow SetReadOnly: those dialled after it say the new setting, and an
// idle one dialled with the other is closed rather than reused. (They kept Options.ReadOnly: a
// READONLY connection to a master that had been a replica, demoted again before the map saw it,
// served a blocking XREAD as a replica, unchecked.)
func TestDedicatedConnectionsFollowTheReadOnlySetting(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	srv := tc.Masters()[0]
	n := startNode(t, Options{Addr: srv.Addr(), ReadOnly: true, ClientName: "ro-dedicated"})
	ctx := context.Background()
	_, err := n.Do(ctx, "PING") // the pipelined connection, for the flags below
	require.NoError(t, err)

	d, err := n.Dedicated(ctx)
	require.NoError(t, err)
	d.Release() // idle, READONLY
	require.Equal(t, []string{"r", "r"}, connFlags(t, srv, "ro-dedicated"))

	n.SetReadOnly(false)
	_, err = n.Do(ctx, "PING") // written after the READWRITE
	require.NoError(t, err)
	d, err = n.Dedicated(ctx)
	require.NoError(t, err)
	v, err := d.Do(ctx, "CLIENT", "INFO")
	require.NoError(t, err)
	assert.Contains(t, string(v.Bytes()), " flags=N ", "the connection taken after SetReadOnly(false)")
	d.Release()
	assert.Eventually(t, func() bool { // the server hears the close in its own time
		flags := connFlags(t, srv, "ro-dedicated")
		return len(flags) == 2 && flags[0] == "N" && flags[1] == "N"
	}, 5*time.Second, 5*time.Millisecond, "the READONLY one was closed: %v", connFlags(t, srv, "ro-dedicated"))

	n.SetReadOnly(true)
	_, err = n.Do(ctx, "PING") // written after the READONLY
	require.NoError(t, err)
	r := NewRequest("BLPOP", "ro-dedicated-list", "0.05") // run on a dedicated connection
	n.Send(r)
	v, err = r.Await()
	require.NoError(t, err)
	assert.True(t, v.IsNull(), "BLPOP times out: %v", v)
	flags := connFlags(t, srv, "ro-dedicated")
	assert.ElementsMatch(t, []string{"r", "r"}, flags, "the blocking command's connection says READONLY")
}

// A dedicated connection whose dial overlaps a SetReadOnly says the new setting: one dialled
// with the old one is closed and dialled again. (It was handed out with the old setting: READONLY
// on a node the map had just called a master.)
func TestDedicatedDialOverlappingSetReadOnly(t *testing.T) {
	tc := testcluster.New(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	p := testproxy.New(t, tc.Masters()[0].Addr())
	n := startNode(t, Options{Addr: p.Addr(), ReadOnly: true, ClientName: "ro-overlap"})
	ctx := context.Background()
	_, err := n.Do(ctx, "PING") // the pipelined connection, through the proxy before the gate
	require.NoError(t, err)

	p.Arm()
	type result struct {
		d   *Dedicated
		err error
	}
	got := make(chan result, 1)
	go func() {
		bound, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		d, err := n.Dedicated(bound)
		got <- result{d, err}
	}()
	p.AwaitHeld(t) // the dial is connected, its handshake held at the gate
	n.SetReadOnly(false)
	p.Open()
	r := <-got
	require.NoError(t, r.err)
	defer r.d.Release()
	v, err := r.d.Do(ctx, "CLIENT", "INFO")
	require.NoError(t, err)
	assert.Contains(t, string(v.Bytes()), " flags=N ", "the connection handed out after SetReadOnly(false)")
}
