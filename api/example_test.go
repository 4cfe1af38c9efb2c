package api_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/internal/testcluster"
)

func ExampleCreateCluster() {
	ctx := context.Background()
	local, err := testcluster.Start(ctx, testcluster.Options{}) // a real 3×1 cluster on loopback
	if err != nil {
		fmt.Println(err)
		return
	}
	defer local.Stop()

	c, err := api.CreateCluster(api.ClusterOptions{
		RootNodes: []api.NodeOptions{{URL: "redis://" + local.Addrs()[0]}, {URL: "redis://" + local.Addrs()[1]}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	_ = c.Set(ctx, "greeting", "hello")
	s, _ := c.Get(ctx, "greeting")
	fmt.Println(s)
	_, err = c.Get(ctx, "missing")
	fmt.Println(errors.Is(err, api.Nil))

	f := c.Send(api.Cmd("INCRBY", "counter", 41)) // a Future: send many, await later
	v, _ := f.Await()
	fmt.Println(v.String())

	_ = c.MSet(ctx, map[string]any{"a": "1", "b": "2"}) // keys in any slots: one MSET per slot
	values, _ := c.MGet(ctx, "a", "b", "nope")
	fmt.Println(values["a"], values["b"], len(values))

	keys := 0
	for _, err := range c.Scan(ctx, api.ScanOptions{Match: "[ab]"}) { // every master's keys
		if err != nil {
			fmt.Println(err)
			return
		}
		keys++
	}
	fmt.Println(keys, "keys match [ab]")

	lib := api.NewLibrary("#!lua name=greetings\n" +
		"redis.register_function('greet', function(keys, args) return 'hi ' .. args[1] end)")
	r, err := lib.Call(ctx, c, "greet", nil, "there") // loaded first on the master it reaches, if missing there
	fmt.Println(r.String(), err)

	sub, err := c.SSubscribe(ctx, "orders") // returns once the server has confirmed it
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	_, _ = c.Do(ctx, api.Cmd("SPUBLISH", "orders", "order 7 shipped"))
	m := <-sub.Messages()
	fmt.Println(m.Channel, "→", m.Payload)
	// Output:
	// hello
	// true
	// 41
	// 1 2 2
	// 2 keys match [ab]
	// hi there <nil>
	// orders → order 7 shipped
}

func ExampleHooks() {
	ctx := context.Background()
	local, err := testcluster.Start(ctx, testcluster.Options{Replicas: testcluster.NoReplicas})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer local.Stop()

	var mu sync.Mutex
	counts := map[string]int{} // commands by name and outcome; a real service would keep latencies too
	c, err := api.CreateCluster(api.ClusterOptions{
		RootNodes: []api.NodeOptions{{URL: "redis://" + local.Addrs()[0]}},
		Hooks: api.Hooks{CommandDone: func(d api.CommandDone) {
			// On one of the client's goroutines: quick, and no command of this client in here.
			name := d.Name
			if d.Err != nil {
				name += " failed"
			}
			mu.Lock()
			counts[name]++
			mu.Unlock()
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Connect(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	_ = c.Set(ctx, "k", "v")
	_, _ = c.Get(ctx, "k")
	_, err = c.LPush(ctx, "k", "x") // WRONGTYPE: reported, with its error, before LPush returns
	fmt.Println(errors.Is(err, api.ErrWrongType))
	mu.Lock()
	fmt.Println(counts)
	mu.Unlock()
	// Output:
	// true
	// map[GET:1 LPUSH failed:1 SET:1]
}
