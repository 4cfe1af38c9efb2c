package node

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testcluster"
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
			n := connectedNode(t, srv.Addr(), timeout)
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

// connectedNode starts a node on the server at addr with the command timeout given, and waits for
// its connection.
func connectedNode(t *testing.T, addr string, timeout time.Duration) *Node {
	n := startNode(t, Options{Addr: addr, CommandTimeout: timeout})
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
	n := connectedNode(t, srv.Addr(), timeout)
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
	assert.Less(t, slowest, 4*timeout, "a reply came that late") // the holds written add up, 10 ms a tick
}

// A Slower command redirected or retried late in its life, its deadline before what its hold
// allows, fails at its deadline with ErrLateReply, the connection kept, as any late command does.
// (Its hold was not counted: it was not watched, and failed past its deadline by up to its hold,
// with the connection.)
func TestLateSlowerCommandFailsAtItsDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := fakeredis.New(t, hangAt)
	n := connectedNode(t, srv.Addr(), timeout)
	r := NewRequest("HANG")
	r.Slower = 2 * timeout
	r.Until = time.Now().Add(timeout) // some of its time spent elsewhere
	n.Send(r)
	_, err := await(t, r)
	assert.ErrorIs(t, err, ErrLateReply)
}

// A WAIT whose timeout is the command timeout or more is refused on a shared connection, unless
// Slower is longer still. (It was refused whatever Slower said.)
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
	n := connectedNode(t, srv.Addr(), timeout)
	refused := NewRequest("WAIT", "0", "600")
	n.Send(refused)
	_, err := await(t, refused)
	require.ErrorIs(t, err, ErrUnsupportedCommand)
	wait := NewRequest("WAIT", "0", "600")
	wait.Slower = 3 * timeout
	n.Send(wait)
	v, err := await(t, wait)
	require.NoError(t, err)
	replicas, err := v.Int64()
	require.NoError(t, err)
	assert.Zero(t, replicas)
}

// Two Slower commands written together, each run within its own Slower, both succeed on the same
// connection: the second may take its whole Slower after the first took its own. (Slower was an
// allowance on top of the command timeout, counted once: the second failed at 1.5 s, needing 1.6.)
func TestSlowerCommandsBackToBack(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := fakeredis.New(t, func(conn *fakeredis.Conn) {
		cmd, err := conn.Handshake()
		for ; err == nil; cmd, err = conn.ReadCommand() {
			if cmd[0] == "SLOW" {
				time.Sleep(800 * time.Millisecond)
			}
			err = conn.Write("+OK\r\n")
		}
	})
	n := connectedNode(t, srv.Addr(), timeout)
	a, b := NewRequest("SLOW", 1), NewRequest("SLOW", 2)
	a.Slower, b.Slower = 3*timeout, 3*timeout
	n.Send(a)
	n.Send(b)
	_, err := await(t, a)
	require.NoError(t, err)
	_, err = await(t, b)
	require.NoError(t, err)
	assert.Equal(t, 1, srv.Accepts(), "connections")
}

// busyScript is EVAL of a script that keeps a real server busy for ms milliseconds.
func busyScript(ms int) []any {
	return []any{"EVAL", `local t = redis.call('TIME') local start = t[1] * 1000000 + t[2]
repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - start >= tonumber(ARGV[1]) * 1000
return 1`, 0, ms}
}

// What is written while a real server runs a slow command is read together after it, and its
// replies come once the server has run all of it: a plain command sent between two slow ones waits
// for both, and so does the second slow one, its deadline counting from its send; each within the
// holds written. (The plain one had the first slow one's hold only, and was dropped at 1.1 s with
// the connection; the second slow one failed at its deadline, 850 ms, though it ran.)
func TestRepliesReadWithASlowCommandWaitForIt(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	n := connectedNode(t, srv.Addr(), timeout)
	slow := func() *Request {
		r := NewRequest(busyScript(600)...)
		r.Slower = 700 * time.Millisecond
		r.Until = time.Now().Add(r.Slower)
		return r
	}
	first := slow()
	n.Send(first)
	time.Sleep(timeout / 3) // the scenario: sent while the first runs, a tick or more apart
	plain := NewRequest("INCR", "k")
	n.Send(plain)
	time.Sleep(timeout / 3)
	second := slow()
	n.Send(second)
	for _, r := range []*Request{first, plain, second} {
		_, err := await(t, r)
		assert.NoError(t, err, r.Name())
	}
}

// A slow command's hold counts for the replies Redis sends with its own, whatever their place: a
// transaction's (MULTI's and QUEUED come with EXEC's), ASKING's, and a command's written in the
// same write ahead of it. (A hold counted only once every reply ahead of the held one had come,
// and Redis sends none of them before it has run the slow command: each was dropped at the
// command timeout, 302–329 ms, in the review that found it.)
func TestSlowerHoldsTheRepliesSentWithIt(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := testcluster.NewStandalone(t, testcluster.Options{})
	for _, c := range []string{"alone", "transaction", "behind a GET", "with ASKING"} {
		t.Run(c, func(t *testing.T) {
			n := connectedNode(t, srv.Addr(), timeout)
			var reqs []*Request
			slow := NewRequest(busyScript(600)...)
			switch c {
			case "transaction":
				slow = NewRequest("MULTI")
				slow.More = [][]any{busyScript(600), {"EXEC"}}
			case "behind a GET":
				reqs = append(reqs, NewRequest("GET", "k"))
			case "with ASKING":
				slow.Asking = true
			}
			slow.Slower = 3 * timeout
			reqs = append(reqs, slow)
			for _, r := range reqs {
				n.Send(r)
			}
			for _, r := range reqs {
				_, err := await(t, r)
				assert.NoError(t, err, r.Name())
			}
		})
	}
}
