package api

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/resp"
)

// passedDeadline is a ctx whose deadline has passed but whose timer has yet to fire: what a dial
// with a socket deadline taken from it may meet first.
type passedDeadline struct{ context.Context }

func (passedDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// A Watch that failed as the caller's deadline passed says so (context.DeadlineExceeded), even
// when the error came from a socket deadline a hair before the ctx's timer fired; ErrTimeout only
// when CommandTimeout passed first. (A review: 10 of 3000 Watch calls with 0-4 ms deadlines said
// ErrTimeout, 3.5 ms into a 2 s CommandTimeout, and a few returned a bare dial error.)
func TestWatchEndedByTheCallersDeadline(t *testing.T) {
	dial := &os.SyscallError{Syscall: "dial", Err: os.ErrDeadlineExceeded}
	caller := passedDeadline{context.Background()}
	bounded, cancel := context.WithTimeout(caller, time.Hour)
	defer cancel()
	err := watchEnded(caller, bounded, dial)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrTimeout)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "the cause kept")

	ended, stop := context.WithCancel(context.Background())
	stop()
	err = watchEnded(ended, ended, errors.New("dedicated connection: dial tcp: i/o timeout"))
	assert.ErrorIs(t, err, context.Canceled, "not bare")

	noperm := &resp.Error{Prefix: "NOPERM", Msg: "User has no permissions"}
	err = watchEnded(ended, ended, noperm)
	assert.Same(t, error(noperm), err, "the server's answer is not taken for ctx ending")
	assert.NotErrorIs(t, err, context.Canceled)

	timedOut, stopBound := context.WithTimeout(context.Background(), 0) // CommandTimeout's bound
	defer stopBound()
	<-timedOut.Done()
	err = watchEnded(context.Background(), timedOut, dial)
	assert.ErrorIs(t, err, ErrTimeout)
}

// A Library.Call whose ctx ends while it asks the server whether the function is missing (after
// "Function not found") fails with the ctx's error: the server's "not found" alone was returned,
// which a caller takes for a function that does not exist. (A review: 10 of 400 calls right after
// a FUNCTION FLUSH.) Only when asking failed: a listing that came, naming the function, says it
// ran and the error is its own, whatever ctx did after (a first fix said ctx's error then).
func TestCallWhoseCtxEndsWhileCheckingSaysSo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var srv *fakeredis.Server
	srv = fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for ; err == nil; cmd, err = c.ReadCommand() {
			switch strings.ToUpper(strings.Join(cmd[:min(len(cmd), 2)], " ")) {
			case "CLUSTER SHARDS":
				err = c.Write(fakeredis.ShardsReply(fakeredis.Shard{Addr: srv.Addr(), Ranges: [][2]int{{0, 16383}}}))
			case "FCALL F":
				err = c.Write("-ERR Function not found\r\n")
			case "FUNCTION LIST":
				<-ctx.Done() // answered once the caller's ctx has ended
				err = c.Write("*0\r\n")
			default:
				err = c.Write("-ERR unknown command\r\n")
			}
		}
	})
	cl, err := CreateCluster(ClusterOptions{RootNodes: []NodeOptions{{URL: "redis://" + srv.Addr()}},
		TopologyRefreshInterval: -1})
	require.NoError(t, err)
	require.NoError(t, cl.Connect(context.Background()))
	defer func() { require.NoError(t, cl.Close()) }()
	_, err = NewLibrary("#!lua name=lib\nredis.register_function('f', function() return 1 end)").Call(ctx, cl, "f", nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "Function not found", "what the call met first")
}
