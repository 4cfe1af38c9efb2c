package testproxy

import (
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer echoes every connection's bytes back until the test ends.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// A black hole passes nothing either way while it lasts, and loses nothing: what was sent into it
// arrives, in order, once it ends, as over a healed partition. (It dropped what it read, so the
// replies after it answered other commands than their callers'.)
func TestBlackholeHoldsTheTrafficAndLosesNone(t *testing.T) {
	p := New(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	buf := make([]byte, 16)
	_, err = c.Write([]byte("one"))
	require.NoError(t, err)
	_, err = io.ReadFull(c, buf[:3])
	require.NoError(t, err)
	require.Equal(t, "one", string(buf[:3]))

	p.Set(Blackhole, 0)
	_, err = c.Write([]byte("two"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	n, err := c.Read(buf)
	assert.Zero(t, n, "passed through the black hole: %q", buf[:n])
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	p.Set(None, 0)
	_, err = c.Write([]byte("three"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadFull(c, buf[:8])
	require.NoError(t, err)
	assert.Equal(t, "twothree", string(buf[:8]))
}
