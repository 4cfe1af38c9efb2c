package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/internal/fakeredis"
	"github.com/actoredis/actoredis/internal/testwait"
)

// OnStall says when the oldest reply has been due for half the command timeout (at most a second),
// and when replies come again; a command given more time (Slower) is no stall while it runs.
func TestOnStallSaysWhenAReplyIsOverdue(t *testing.T) {
	const timeout = time.Second
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for ; err == nil; cmd, err = c.ReadCommand() {
			if cmd[0] == "SLOW" {
				time.Sleep(700 * time.Millisecond) // past stallAfter (500 ms), within the timeout
			}
			err = c.Write("+OK\r\n")
		}
	})
	stalls := make(chan bool, 8)
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: timeout, OnStall: func(s bool) { stalls <- s }})

	r := NewRequest("SLOW")
	n.Send(r)
	sent := time.Now()
	assert.True(t, testwait.Recv(t, stalls, "no stall said"))
	assert.GreaterOrEqual(t, time.Since(sent), stallAfter(timeout))
	_, err := await(t, r)
	require.NoError(t, err)
	assert.False(t, testwait.Recv(t, stalls, "the stall's end not said"))

	r = NewRequest("SLOW")
	r.Slower = 2 * time.Second
	n.Send(r)
	_, err = await(t, r)
	require.NoError(t, err)
	select { // the ticks while it ran would have said so by now, on the actor's goroutine
	case s := <-stalls:
		t.Fatalf("a Slower command running was said stalled (%v)", s)
	default:
	}
}

// A stall the actor said is said ended when the actor restarts (here after a panic in OnStall
// itself): the next actor starts unstalled, and the map would otherwise keep it stalled for good.
func TestStallEndsWithARestart(t *testing.T) {
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		cmd, err := c.Handshake()
		for ; err == nil; cmd, err = c.ReadCommand() {
			if cmd[0] != "HANG" { // answered never
				err = c.Write("+OK\r\n")
			}
		}
	})
	stalls := make(chan bool, 8)
	first := true
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: time.Minute, OnStall: func(s bool) {
		stalls <- s
		if first { // on the actor's goroutine
			first = false
			panic("a bug")
		}
	}})
	n.Send(NewRequest("HANG"))
	assert.True(t, testwait.Recv(t, stalls, "no stall said"))
	assert.False(t, testwait.Recv(t, stalls, "the restart did not end the stall"))
}

// A server answering, however slowly, is not stalled: its replies keep coming, though the oldest
// due has waited longer than stallAfter. (It was said stalled, and the map refreshed 5 times a
// second while it lasted.)
func TestSlowRepliesAreNoStall(t *testing.T) {
	const timeout = 4 * time.Second // stallAfter: 1 s
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		_, err := c.Handshake()
		for ; err == nil; _, err = c.ReadCommand() {
			time.Sleep(100 * time.Millisecond) // one reply every 100 ms
			err = c.Write("+OK\r\n")
		}
	})
	stalls := make(chan bool, 8)
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: timeout, OnStall: func(s bool) { stalls <- s }})
	var rs []*Request
	for range 20 { // the last answered 2 s after its write
		r := NewRequest("GET", "k")
		n.Send(r)
		rs = append(rs, r)
	}
	for _, r := range rs {
		_, err := await(t, r)
		require.NoError(t, err)
	}
	select {
	case s := <-stalls:
		t.Fatalf("a server answering every 100 ms was said stalled (%v)", s)
	default:
	}
}

// A large reply still arriving, bytes flowing though no reply is whole yet, is no stall. (An 8 MB
// reply streamed over 2.6 s was said stalled after 1 s, and the map refreshed while it came.)
func TestLargeReplyArrivingIsNoStall(t *testing.T) {
	const chunk, chunks = 64 << 10, 128
	srv := fakeredis.New(t, func(c *fakeredis.Conn) {
		_, err := c.Handshake()
		for ; err == nil; _, err = c.ReadCommand() {
			err = c.Write(fmt.Sprintf("$%d\r\n", chunk*chunks))
			for i := 0; i < chunks && err == nil; i++ {
				time.Sleep(20 * time.Millisecond) // a slow link: 3.2 MB/s
				err = c.Write(strings.Repeat("v", chunk))
			}
			if err == nil {
				err = c.Write("\r\n")
			}
		}
	})
	stalls := make(chan bool, 8)
	// CommandTimeout well past the 2.6 s the reply takes (CI run 120, beside two chaos tests: it
	// timed out at 4 s); the stall detection looks for 1 s at most whatever it is.
	n := startNode(t, Options{Addr: srv.Addr(), CommandTimeout: 10 * time.Second, OnStall: func(s bool) { stalls <- s }})
	r := NewRequest("GET", "big")
	n.Send(r)
	v, err := await(t, r)
	require.NoError(t, err)
	assert.Len(t, v.Bytes(), chunk*chunks)
	select {
	case s := <-stalls:
		t.Fatalf("a reply arriving was said stalled (%v)", s)
	default:
	}
}
