package testcluster_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/testcluster"
)

// rawCommand sends one inline command on a fresh plain connection and returns the first reply line.
func rawCommand(t *testing.T, conn net.Conn, r *bufio.Reader, cmd string) string {
	t.Helper()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err := fmt.Fprintf(conn, "%s\r\n", cmd)
	require.NoError(t, err)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	return strings.TrimRight(line, "\r\n")
}

func TestPasswordAndACLUser(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t, testcluster.Options{
		Masters:  2,
		Replicas: 1,
		Password: "top secret",
		Users:    []testcluster.User{{Name: "app", Password: "secret", Rules: []string{"on", "~*", "&*", "+@all"}}},
	})
	ctx := ctxT(t, 20*time.Second)
	require.Len(t, c.Masters(), 2)
	require.Len(t, c.Replicas(), 2, "replication works with masterauth")

	for _, n := range c.Nodes() {
		conn, err := net.Dial("tcp", n.Addr())
		require.NoError(t, err)
		r := bufio.NewReader(conn)
		require.True(t, strings.HasPrefix(rawCommand(t, conn, r, "GET x"), "-NOAUTH"), n.Addr())
		require.True(t, strings.HasPrefix(rawCommand(t, conn, r, "AUTH app wrong"), "-WRONGPASS"), n.Addr())
		require.Equal(t, "+OK", rawCommand(t, conn, r, "AUTH app secret"), n.Addr())
		require.Equal(t, "+PONG", rawCommand(t, conn, r, "PING"))
		require.True(t, strings.HasPrefix(rawCommand(t, conn, r, `AUTH "top secret2"`), "-WRONGPASS"))
		require.Equal(t, "+OK", rawCommand(t, conn, r, `AUTH "top secret"`), "the default user's password")
		require.NoError(t, conn.Close())
	}

	// MIGRATE authenticates with the password.
	slot := keySlot(t, ctx, c.Masters()[0], "{pw}")
	src := c.MasterFor(slot)
	_, err := src.Do(ctx, "SET", "{pw}k", "v")
	require.NoError(t, err)
	dst := c.Masters()[0]
	if dst == src {
		dst = c.Masters()[1]
	}
	require.NoError(t, c.MigrateSlot(ctx, slot, dst))
	v, err := dst.Do(ctx, "GET", "{pw}k")
	require.NoError(t, err)
	require.Equal(t, "v", v)
}

func TestAnnounceHostname(t *testing.T) {
	t.Parallel()
	c := testcluster.New(t, testcluster.Options{
		Masters:          2,
		Replicas:         testcluster.NoReplicas,
		AnnounceHostname: func(i int) string { return fmt.Sprintf("n%d.invalid", i) },
	})
	ctx := ctxT(t, 20*time.Second)
	require.Len(t, c.Nodes(), 2)
	require.Empty(t, c.Replicas())

	v, err := c.Nodes()[1].Do(ctx, "CLUSTER", "SLOTS")
	require.NoError(t, err)
	var endpoints []string
	for _, e := range v.([]any) {
		endpoints = append(endpoints, e.([]any)[2].([]any)[0].(string))
	}
	require.ElementsMatch(t, []string{"n0.invalid", "n1.invalid"}, endpoints)

	_, err = c.Nodes()[0].Do(ctx, "GET", "{x}k")
	_, err2 := c.Nodes()[1].Do(ctx, "GET", "{x}k")
	moved := err
	if moved == nil {
		moved = err2
	}
	require.ErrorContains(t, moved, ".invalid:", "redirections name the announced host")
}
