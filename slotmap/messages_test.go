package slotmap

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actoredis/actoredis/actors"
	"github.com/actoredis/actoredis/node"
)

type idle struct{}

func (idle) Receive(actor.Context) {}

// refusingOwner records that it was asked: a carried request must be failed directly.
type refusingOwner struct{ asked bool }

func (o *refusingOwner) Return(*node.Request, error) bool { o.asked = true; return true }

// A Moved, Resolve or Reroute posted to an actor that has stopped fails the request it carries,
// without asking the request's Owner (which would only send it back to a stopped dispatcher).
func TestMessagesToAStoppedActorFailTheirRequest(t *testing.T) {
	sys := actors.NewSystem(nil)
	defer sys.Shutdown()
	pid, err := sys.Spawn("", func() actor.Actor { return idle{} }, actors.SpawnOptions{})
	require.NoError(t, err)
	sys.Stop(pid, time.Second)

	for name, msg := range map[string]func(*node.Request) any{
		"Moved":   func(r *node.Request) any { return &Moved{Slot: 1, Addr: "x:1", Req: r, Back: pid} },
		"Resolve": func(r *node.Request) any { return &Resolve{Addr: "x:1", Req: r, Back: pid} },
		"Reroute": func(r *node.Request) any { return &Reroute{Req: r} },
	} {
		owner := &refusingOwner{}
		r := node.NewRequest("GET", "k")
		r.Owner = owner
		sys.Root().Send(pid, msg(r))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound, not a wait
		_, err := r.Future.AwaitContext(ctx)
		cancel()
		assert.ErrorIs(t, err, actors.ErrActorStopped, name)
		assert.False(t, owner.asked, name)
	}
	// A Moved without a request (a MOVED seen by a pipeline) has nothing to fail.
	assert.NotPanics(t, func() { (&Moved{Slot: 1}).Fail(actors.ErrActorStopped) })
}
