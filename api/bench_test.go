package api

import (
	"context"
	"strconv"
	"testing"

	"github.com/actoredis/actoredis/internal/benchload"
	"github.com/actoredis/actoredis/internal/testcluster"
)

// The hops of a GET, side by side on one local cluster (3 masters, no replicas):
//
//	node:    Node.Do on the key's master — caller → node actor → socket → reader → caller
//	send:    Cluster.Send(...).Await()   — the same, with the dispatcher actor in front
//	do:      Cluster.Do                  — as send, with the Future reused
//
// The difference between node and send is what the dispatcher hop (slot, route, one more
// mailbox) costs per command; cpu-µs/op is the whole process's CPU time per GET.
//
//	go test ./api -run '^$' -bench Hops -benchmem
func BenchmarkHops(b *testing.B) {
	tc := testcluster.New(b, testcluster.Options{Replicas: testcluster.NoReplicas})
	c := connect(b, tc, ClusterOptions{})
	ctx := context.Background()
	const key = "bench:hops"
	if err := c.Set(ctx, key, "0123456789abcdef"); err != nil {
		b.Fatal(err)
	}
	owner := c.NodeForKey(key)
	get := Cmd("GET", key)
	for _, callers := range []int{1, 64, 1024} {
		b.Run("node/callers="+strconv.Itoa(callers), func(b *testing.B) {
			benchload.RunCallers(b, callers, func() error { _, err := owner.Do(ctx, get); return err })
		})
		b.Run("send/callers="+strconv.Itoa(callers), func(b *testing.B) {
			benchload.RunCallers(b, callers, func() error { _, err := c.Send(get).Await(); return err })
		})
		b.Run("do/callers="+strconv.Itoa(callers), func(b *testing.B) {
			benchload.RunCallers(b, callers, func() error { _, err := c.Do(ctx, get); return err })
		})
	}
}
