package actors

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/resp"
)

// A reply read from a connection completes a detached future with a value of its own: reusing the
// future afterwards leaves the value returned intact.
func TestDetachedFutureKeepsItsValueAcrossReuse(t *testing.T) {
	r := resp.NewReader(strings.NewReader("$5\r\nfirst\r\n$6\r\nsecond\r\n"), resp.Limits{})
	f := &Future{}
	f.Detach()
	f.Init()
	v, err := r.Read()
	require.NoError(t, err)
	require.True(t, f.CompleteFrom(v))
	first, err := f.Await()
	require.NoError(t, err)
	require.True(t, f.Reusable())

	f.Reuse()
	f.Init()
	assert.False(t, f.IsDone())
	v, err = r.Read()
	require.NoError(t, err)
	require.True(t, f.CompleteFrom(v))
	second, err := f.Await()
	require.NoError(t, err)
	assert.Equal(t, "first", first.String())
	assert.Equal(t, "second", second.String())
}

// Only a future completed by a reply may be reused: one that failed first (a cancellation, a
// timeout) may still be queued on a connection, whose late reply would land in its next use.
func TestFutureReusableOnlyAfterAReply(t *testing.T) {
	reply := resp.BulkString("late")
	cases := map[string]func(f *Future){
		"failed":             func(f *Future) { f.Fail(errors.New("gave up")) },
		"completed by value": func(f *Future) { f.Complete(resp.BulkString("v"), nil) },
		"cancelled, reply late": func(f *Future) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := f.AwaitContext(ctx)
			require.ErrorIs(t, err, context.Canceled)
			assert.False(t, f.CompleteFrom(reply), "the late reply is dropped")
		},
	}
	for name, complete := range cases {
		t.Run(name, func(t *testing.T) {
			f := &Future{}
			f.Detach()
			f.Init()
			complete(f)
			_, _ = f.Await()
			assert.False(t, f.Reusable())
		})
	}
	t.Run("not detached", func(t *testing.T) {
		f := NewFuture()
		require.True(t, f.CompleteFrom(reply))
		_, _ = f.Await()
		assert.False(t, f.Reusable(), "its value lives inside it")
	})
}

// Reuse races the completer's last steps (closing Done's channel, unlocking the waiters, the wake
// token): run many rounds, waiting on Done, through Await alone, or through AwaitContext, so the
// race detector sees every field they share and a token left over from one use never ends the
// wait of the next.
func TestFutureReuseAfterCompleterFinishes(t *testing.T) {
	f := &Future{}
	f.Detach()
	reply := resp.BulkString("x")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 6000 {
		f.Init()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.CompleteFrom(reply)
		}()
		var v resp.Value
		var err error
		switch i % 3 {
		case 0:
			<-f.Done()
			v, err = f.Await()
		case 1:
			v, err = f.Await()
		case 2:
			v, err = f.AwaitContext(ctx)
		}
		require.NoError(t, err)
		require.Equal(t, "x", v.String())
		require.True(t, f.IsDone())
		require.True(t, f.Reusable())
		f.Reuse()
		wg.Wait()
	}
}
