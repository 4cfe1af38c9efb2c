package dispatcher

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
)

// messageOnly is an actor.Context that only knows its message: enough for handlers that neither
// send nor spawn.
type messageOnly struct {
	actor.Context
	msg any
}

func (c messageOnly) Message() any { return c.msg }

// backingOff returns a dispatcher holding one request in a backoff whose timer has fired (it can
// no longer be stopped), so only its retryNow would route it.
func backingOff(t *testing.T) (*dispatcherActor, *Request) {
	r := &Request{}
	r.Init(nil, []any{"GET", "k"})
	fired := time.AfterFunc(time.Hour, func() {})
	require.True(t, fired.Stop())
	return &dispatcherActor{waiting: map[*Request]*time.Timer{r: fired}}, r
}

// A stopping dispatcher fails a request whose backoff timer fired but whose retryNow it will never
// handle; a restarting one leaves it to that retryNow, which its next instance routes.
func TestStoppingFailsRequestsWhoseRetryIsInFlight(t *testing.T) {
	a, r := backingOff(t)
	a.Receive(messageOnly{msg: &actor.Stopping{}})
	require.True(t, r.IsDone())
	_, err := r.Future.Await()
	assert.ErrorIs(t, err, actors.ErrActorStopped)
	assert.Empty(t, a.waiting)

	a, r = backingOff(t)
	a.Receive(messageOnly{msg: &actor.Restarting{}})
	assert.False(t, r.IsDone())
}
