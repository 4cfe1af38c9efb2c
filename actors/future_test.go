package actors

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/resp"
)

func TestFutureCompletesOnce(t *testing.T) {
	f := NewFuture()
	assert.False(t, f.IsDone())
	require.True(t, f.Complete(resp.BulkString("first"), nil))
	assert.False(t, f.Complete(resp.BulkString("second"), nil))
	f.Fail(errors.New("late"))
	assert.True(t, f.IsDone())
	v, err := f.Await()
	require.NoError(t, err)
	assert.Equal(t, "first", v.String())
	v, err = f.Await() // again: same result
	require.NoError(t, err)
	assert.Equal(t, "first", v.String())
}

func TestFutureManyWaiters(t *testing.T) {
	f := NewFuture()
	var wg sync.WaitGroup
	results := make([]string, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v resp.Value
			if i%2 == 0 {
				v, _ = f.Await()
			} else {
				v, _ = f.AwaitContext(context.Background())
			}
			results[i] = v.String()
		}()
	}
	go func() { f.Complete(resp.BulkString("v"), nil) }()
	<-f.Done()
	wg.Wait()
	for _, r := range results {
		assert.Equal(t, "v", r)
	}
}

func TestFutureDoneAfterCompletion(t *testing.T) {
	f := NewFuture()
	done := f.Done()
	select {
	case <-done:
		t.Fatal("done before completion")
	default:
	}
	f.Fail(errors.New("boom"))
	<-done
	<-f.Done()
	_, err := f.Await()
	assert.EqualError(t, err, "boom")
}

func TestFutureAwaitContextCancels(t *testing.T) {
	f := NewFuture()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err := f.AwaitContext(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, f.IsDone(), "the future is failed so the command is never written")
	assert.False(t, f.CompleteFrom(resp.BulkString("late reply")), "a late reply is dropped")
}

func TestFutureServerErrorBecomesError(t *testing.T) {
	f := NewFuture()
	f.CompleteFrom(resp.ErrorValue("WRONGTYPE", "Operation against a key holding the wrong kind of value"))
	_, err := f.Await()
	assert.ErrorIs(t, err, resp.ErrWrongType)
}

func TestFutureInlineReply(t *testing.T) {
	r := resp.NewReader(strings.NewReader("$5\r\nhello\r\n$5\r\nworld\r\n"), resp.Limits{})
	v, err := r.Read()
	require.NoError(t, err)
	f := NewFuture()
	require.True(t, f.CompleteFrom(v))
	_, err = r.Read() // the reader reuses its buffer
	require.NoError(t, err)
	got, err := f.Await()
	require.NoError(t, err)
	assert.Equal(t, "hello", got.String())
}

func TestFutureAllocations(t *testing.T) {
	reply := resp.BulkString("a short value")
	allocs := testing.AllocsPerRun(1000, func() {
		f := NewFuture()
		f.CompleteFrom(reply)
		if _, err := f.Await(); err != nil {
			panic(err)
		}
	})
	assert.Equal(t, 1.0, allocs, "one allocation: the future itself, reply included")
}

// A counted future leaves its count exactly once, whichever of Uncount and its completion comes
// first, and whichever goroutines they run on.
func TestFutureCountedOnce(t *testing.T) {
	var n atomic.Int64
	f := NewFuture()
	require.Equal(t, int64(1), f.CountIn(&n))
	f.Uncount()
	assert.Zero(t, n.Load(), "uncounted before its completion")
	f.Fail(errors.New("done"))
	f.Uncount()
	assert.Zero(t, n.Load(), "completion and a second Uncount take nothing more")

	g := NewFuture()
	g.CountIn(&n)
	g.Complete(resp.SimpleString("OK"), nil)
	g.Uncount()
	assert.Zero(t, n.Load())

	for range 200 {
		futures := make([]*Future, 8)
		for i := range futures {
			futures[i] = NewFuture()
			futures[i].CountIn(&n)
		}
		var wg sync.WaitGroup
		for _, f := range futures {
			wg.Add(2)
			go func() { defer wg.Done(); f.Uncount() }()
			go func() { defer wg.Done(); f.Complete(resp.SimpleString("OK"), nil) }()
		}
		wg.Wait()
		require.Zero(t, n.Load())
	}
	var never Future // never counted: Uncount is a no-op
	never.Init()
	never.Uncount()
	assert.Zero(t, n.Load())
}
