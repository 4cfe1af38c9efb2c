package node

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testwait"
)

// A command given Slower may take the server longer than the command timeout: its reply is waited
// for, and so are those of the commands written after it, due from when the server is done with it,
// not from their write; the connection stays. Without Slower, the stall detection drops the
// connection at the command timeout and both fail. (With Slower, a command written a tick after
// the slow one, which the server took a while to run too, was already overdue when the slow reply
// came, and the connection was dropped then.)
func TestSlowerCommandKeepsTheConnection(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, c := range []struct {
		name   string
		slower time.Duration
	}{{"Slower", 900 * time.Millisecond}, {"no Slower", 0}} {
		t.Run(c.name, func(t *testing.T) {
			got := make(chan struct{}, 1)
			srv := fakeredis.New(t, func(conn *fakeredis.Conn) {
				cmd, err := conn.Handshake()
				for ; err == nil; cmd, err = conn.ReadCommand() {
					reply := "+OK\r\n"
					switch cmd[0] {
					case "SLOW":
						got <- struct{}{}
						time.Sleep(2 * timeout) // the server runs it that long
						reply = "+done\r\n"
					case "GET":
						time.Sleep(timeout / 2) // and this one a while too, after SLOW
						reply = "$1\r\nv\r\n"
					}
					err = conn.Write(reply)
				}
			})
			n := connectedNode(t, srv, timeout)
			slow := NewRequest("SLOW")
			slow.Slower = c.slower
			n.Send(slow)
			testwait.Recv(t, got, "SLOW never reached the server")
			time.Sleep(timeout / 3) // a few ticks: GET is noted due apart from SLOW
			get := NewRequest("GET", "k")
			n.Send(get)
			sv, serr := await(t, slow)
			gv, gerr := await(t, get)
			if c.slower == 0 {
				assert.ErrorIs(t, serr, ErrTimeout)
				assert.ErrorIs(t, gerr, ErrTimeout)
				return
			}
			require.NoError(t, serr)
			require.NoError(t, gerr)
			assert.Equal(t, "done", sv.String())
			assert.Equal(t, "v", gv.String())
			assert.Equal(t, 1, srv.Accepts(), "connections")
		})
	}
}

// connectedNode starts a node on srv with the command timeout given, and waits for its connection.
func connectedNode(t *testing.T, srv *fakeredis.Server, timeout time.Duration) *Node {
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: timeout})
	_, err := n.Do(context.Background(), "PING")
	require.NoError(t, err)
	return n
}

// hangAt is a fake server answering PING, and every command with +OK until it reads HANG, after
// which it answers nothing but PING.
func hangAt(conn *fakeredis.Conn) {
	hung := false
	cmd, err := conn.Handshake()
	for ; err == nil; cmd, err = conn.ReadCommand() {
		switch {
		case cmd[0] == "PING":
			err = conn.Write("+PONG\r\n")
		case cmd[0] == "HANG":
			hung = true
		case !hung:
			err = conn.Write("+OK\r\n")
		}
	}
}

// A server that stops answering at a command with no hold is found out a command timeout after
// it, whatever Slower commands wait behind it. (The holds of all the commands noted due at one
// tick were added up: with 8 Slower commands of 300 ms behind it, the stall was found after
// 2.725 s, not 0.3.)
func TestHoldsBehindAStalledReplyDoNotDelayItsDetection(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := fakeredis.New(t, hangAt)
	n := connectedNode(t, srv, timeout)
	start := time.Now()
	hang := NewRequest("HANG")
	n.Send(hang)
	for i := range 8 {
		r := NewRequest("SLOW", i)
		r.Slower = timeout
		n.Send(r)
	}
	_, err := await(t, hang)
	took := time.Since(start)
	require.ErrorIs(t, err, ErrTimeout)
	assert.Less(t, took, timeout+timeout, "found out after %v", took)
}

// A held command (a WAIT, a Slower one) reaching a server that answers too slowly, one after
// another, does not hide the backlog: its replies are still found overdue. (Each hold answered
// started the clock of every reply behind it again, and the backlog grew without bound: replies
// came 3.3 s after they were sent, with a 300 ms command timeout, and the connection stayed.)
func TestHoldsDoNotHideASlowBacklog(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := fakeredis.New(t, func(conn *fakeredis.Conn) {
		cmd, err := conn.Handshake()
		for ; err == nil; cmd, err = conn.ReadCommand() {
			if cmd[0] != "PING" {
				time.Sleep(40 * time.Millisecond) // slower than the client sends
			}
			err = conn.Write(map[bool]string{true: ":0\r\n", false: "+OK\r\n"}[cmd[0] == "WAIT"])
		}
	})
	n := connectedNode(t, srv, timeout)
	var mu sync.Mutex
	var slowest time.Duration
	failed := 0
	var wg sync.WaitGroup
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		for _, r := range []*Request{NewRequest("WAIT", "0", "10"), NewRequest("GET", "k")} {
			at := time.Now()
			n.Send(r)
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-r.Done():
				case <-time.After(testwait.Bound):
				}
				took := time.Since(at)
				_, err := r.Await()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
				} else {
					slowest = max(slowest, took)
				}
			}()
		}
		time.Sleep(timeout / 10) // the load: two commands a tick
	}
	wg.Wait()
	assert.Positive(t, failed, "the backlog was never found overdue")
	assert.Less(t, slowest, 2*timeout, "a reply came that late")
}

// A Slower command redirected or retried late in its life, its deadline before what its hold
// allows, fails at its deadline with ErrLateReply, the connection kept, as any late command does.
// (Its hold was not counted: it was not watched, and failed past its deadline by up to its hold,
// with the connection.)
func TestLateSlowerCommandFailsAtItsDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := fakeredis.New(t, hangAt)
	n := connectedNode(t, srv, timeout)
	r := NewRequest("HANG")
	r.Slower = 2 * timeout
	r.Until = time.Now().Add(timeout) // some of its time spent elsewhere
	n.Send(r)
	_, err := await(t, r)
	assert.ErrorIs(t, err, ErrLateReply)
}

// A WAIT whose timeout is the command timeout or more is refused on a shared connection, unless
// Slower covers it. (It was refused whatever Slower said.)
func TestSlowerLetsALongWaitRun(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := fakeredis.New(t, func(conn *fakeredis.Conn) {
		cmd, err := conn.Handshake()
		for ; err == nil; cmd, err = conn.ReadCommand() {
			reply := "+PONG\r\n"
			if cmd[0] == "WAIT" {
				time.Sleep(2 * timeout) // as long as it said
				reply = ":0\r\n"
			}
			err = conn.Write(reply)
		}
	})
	n := connectedNode(t, srv, timeout)
	refused := NewRequest("WAIT", "0", "600")
	n.Send(refused)
	_, err := await(t, refused)
	require.ErrorIs(t, err, ErrUnsupportedCommand)
	wait := NewRequest("WAIT", "0", "600")
	wait.Slower = 2 * timeout
	n.Send(wait)
	v, err := await(t, wait)
	require.NoError(t, err)
	replicas, err := v.Int64()
	require.NoError(t, err)
	assert.Zero(t, replicas)
}
