package dispatcher

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
)

// idle is an actor that ignores what it gets; the test only needs its PID, stopped.
type idle struct{}

func (idle) Receive(actor.Context) {}

// idleHandle returns a Handle whose actor is idle: a dispatcherActor the test drives by hand takes
// it, so its timers fire at an actor that ignores them. Its system shuts down with the test.
func idleHandle(t *testing.T) *Handle {
	sys := actors.NewSystem(nil)
	t.Cleanup(sys.Shutdown)
	pid, err := sys.Spawn("", func() actor.Actor { return idle{} }, actors.SpawnOptions{})
	require.NoError(t, err)
	return &Handle{sys: sys, pid: pid}
}

// A returned or retryNow message posted to a dispatcher that has stopped (a backoff timer firing
// during Close, a node giving a request back at the same moment) fails its request instead of
// leaving the caller waiting. The request has no Handle: a Fail that went through its Owner would
// send it back to the dispatcher, and here would panic on the nil Handle.
func TestMessagesToAStoppedDispatcherFailTheirRequest(t *testing.T) {
	sys := actors.NewSystem(nil)
	defer sys.Shutdown()
	pid, err := sys.Spawn("", func() actor.Actor { return idle{} }, actors.SpawnOptions{})
	require.NoError(t, err)
	sys.Stop(pid, time.Second)

	for name, msg := range map[string]func(*Request) any{
		"returned": func(r *Request) any { return &returned{req: r, err: assert.AnError} },
		"retryNow": func(r *Request) any { return &retryNow{q: &retryQueue{reqs: []*Request{r}}} },
	} {
		r := &Request{}
		r.Init(nil, []any{"GET", "k"})
		sys.Root().Send(pid, msg(r))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound, not a wait
		_, err := r.Future.AwaitContext(ctx)
		cancel()
		assert.ErrorIs(t, err, actors.ErrActorStopped, name)
	}
}
