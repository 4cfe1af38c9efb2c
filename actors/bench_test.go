package actors

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/actoredis/actoredis/resp"
)

// Round trips through one actor, measured four ways: protoactor's RequestFuture against a Future
// carried in the message, on protoactor's default mailbox/dispatcher against the pinned mailbox.
// Run: go test ./actors -run '^$' -bench RoundTrip -benchmem

type pong struct{}

func (pong) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *job:
		m.Complete(resp.Integer(1), nil)
	case string:
		ctx.Respond(m)
	}
}

func benchRoundTrip(b *testing.B, pinned, requestFuture bool, callers int) {
	sys := NewSystem(nil)
	defer sys.Shutdown()
	var pid *actor.PID
	if pinned {
		var err error
		if pid, err = sys.Spawn("", func() actor.Actor { return pong{} }, SpawnOptions{}); err != nil {
			b.Fatal(err)
		}
	} else {
		pid = sys.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return pong{} }))
		defer func() { _ = sys.sys.Root.StopFuture(pid).Wait() }()
	}
	root := sys.Root()
	var failures atomic.Int64
	roundTrip := func() {
		if requestFuture {
			if _, err := root.RequestFuture(pid, "ping", time.Second).Result(); err != nil {
				failures.Add(1)
			}
			return
		}
		j := &job{}
		j.Init()
		root.Send(pid, j)
		if _, err := j.Await(); err != nil {
			failures.Add(1)
		}
	}
	b.ReportAllocs()
	if callers == 1 {
		for i := 0; i < b.N; i++ {
			roundTrip()
		}
	} else {
		b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				roundTrip()
			}
		})
	}
	if failures.Load() > 0 {
		b.Fatalf("%d round trips failed", failures.Load())
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	for _, callers := range []int{1, 64} {
		for _, c := range []struct {
			name                  string
			pinned, requestFuture bool
		}{
			{"RequestFuture/default", false, true},
			{"FutureInMessage/default", false, false},
			{"FutureInMessage/pinned", true, false},
		} {
			b.Run(c.name+"/callers="+strconv.Itoa(callers), func(b *testing.B) {
				benchRoundTrip(b, c.pinned, c.requestFuture, callers)
			})
		}
	}
}
