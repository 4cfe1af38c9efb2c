package main

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/actoredis/actoredis/api"
	"github.com/actoredis/actoredis/resp"
)

// client is what the benchmark drives: one GET or SET, the value checked by the caller.
type client interface {
	get(ctx context.Context, key string) ([]byte, error)
	set(ctx context.Context, key string, value []byte) error
	close()
}

var clientNames = []string{"actoredis", "rueidis", "go-redis"}

// sendClient is not in the default set: actoredis driven through Send(...).Await(), whose Future
// is handed out and so not reused as Do's is. Name it in -clients to compare the two APIs.
const sendClient = "actoredis-send"

// backgroundClient is not in the default set: actoredis through Do, as "actoredis", but with
// context.Background() instead of the bench's cancellable context. Do then waits on the reply alone,
// not on the reply or the context's Done channel. Name it in -clients to see what that wait costs.
const backgroundClient = "actoredis-background"

// flushDelayClient is not in the default set either: rueidis with MaxFlushDelay of 20 µs, the value
// its documentation gives for trading a little latency for less CPU under load (the matrix runs it
// with its defaults). Name it in -clients to compare.
const flushDelayClient = "rueidis-delay20"

// hookedClient is not in the default set: actoredis through Do, as "actoredis", with a
// Hooks.CommandDone that counts each command's latency into a histogram of atomic counters, as a
// metrics hook would. Name it in -clients to see what such a hook costs.
const hookedClient = "actoredis-hooked"

// optInClients are the clients outside the default set, each named in -clients to run it.
var optInClients = []string{sendClient, backgroundClient, hookedClient, flushDelayClient}

// latencies is a histogram of command latencies in power-of-two microsecond buckets, counted
// with atomic adds from any goroutine: what hookedClient's hook records.
type latencies struct{ buckets [24]atomic.Uint64 }

func (l *latencies) observe(d api.CommandDone) {
	us := uint64(d.Duration / time.Microsecond)
	l.buckets[min(bits.Len64(us), len(l.buckets)-1)].Add(1)
}

func newClient(ctx context.Context, name string, addrs []string) (client, error) {
	switch name {
	case "actoredis", sendClient, backgroundClient, hookedClient:
		roots := make([]api.NodeOptions, len(addrs))
		for i, a := range addrs {
			roots[i] = api.NodeOptions{URL: "redis://" + a}
		}
		opts := api.ClusterOptions{RootNodes: roots}
		if name == hookedClient {
			opts.Hooks.CommandDone = new(latencies).observe
		}
		c, err := api.CreateCluster(opts)
		if err != nil {
			return nil, err
		}
		if err := c.Connect(ctx); err != nil {
			return nil, err
		}
		switch name {
		case sendClient:
			return actoredisSendClient{c}, nil
		case backgroundClient:
			return actoredisBackgroundClient{c}, nil
		}
		return actoredisClient{c}, nil
	case "rueidis", flushDelayClient:
		opts := rueidis.ClientOption{InitAddress: addrs}
		if name == flushDelayClient {
			opts.MaxFlushDelay = 20 * time.Microsecond
		}
		c, err := rueidis.NewClient(opts)
		if err != nil {
			return nil, err
		}
		return rueidisClient{c}, nil
	case "go-redis":
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		if err := c.Ping(ctx).Err(); err != nil {
			return nil, err
		}
		return goredisClient{c}, nil
	}
	return nil, fmt.Errorf("unknown client %q", name)
}

// actoredisClient uses Do, as the rueidis client below does: the Future is reused.
type actoredisClient struct{ c *api.Cluster }

func (a actoredisClient) get(ctx context.Context, key string) ([]byte, error) {
	v, err := a.c.Do(ctx, api.Cmd("GET", key))
	return bytesOf(v, err)
}

func (a actoredisClient) set(ctx context.Context, key string, value []byte) error {
	_, err := a.c.Do(ctx, api.Cmd("SET", key, value))
	return err
}

func (a actoredisClient) close() { _ = a.c.Close() }

// actoredisBackgroundClient uses Do with a context that is never cancelled.
type actoredisBackgroundClient struct{ c *api.Cluster }

func (a actoredisBackgroundClient) get(_ context.Context, key string) ([]byte, error) {
	return actoredisClient(a).get(context.Background(), key)
}

func (a actoredisBackgroundClient) set(_ context.Context, key string, value []byte) error {
	return actoredisClient(a).set(context.Background(), key, value)
}

func (a actoredisBackgroundClient) close() { _ = a.c.Close() }

// actoredisSendClient uses Send(...).Await().
type actoredisSendClient struct{ c *api.Cluster }

func (a actoredisSendClient) get(_ context.Context, key string) ([]byte, error) {
	return bytesOf(a.c.Send(api.Cmd("GET", key)).Await())
}

func (a actoredisSendClient) set(_ context.Context, key string, value []byte) error {
	_, err := a.c.Send(api.Cmd("SET", key, value)).Await()
	return err
}

func (a actoredisSendClient) close() { _ = a.c.Close() }

func bytesOf(v resp.Value, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if v.IsNull() {
		return nil, api.Nil
	}
	return v.Bytes(), nil
}

type rueidisClient struct{ c rueidis.Client }

func (r rueidisClient) get(ctx context.Context, key string) ([]byte, error) {
	// AsBytes views the reply's string without copying it: no allocation the client did not make.
	return r.c.Do(ctx, r.c.B().Get().Key(key).Build()).AsBytes()
}

func (r rueidisClient) set(ctx context.Context, key string, value []byte) error {
	return r.c.Do(ctx, r.c.B().Set().Key(key).Value(rueidis.BinaryString(value)).Build()).Error()
}

func (r rueidisClient) close() { r.c.Close() }

type goredisClient struct{ c *redis.ClusterClient }

func (g goredisClient) get(ctx context.Context, key string) ([]byte, error) {
	b, err := g.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, api.Nil
	}
	return b, err
}

func (g goredisClient) set(ctx context.Context, key string, value []byte) error {
	return g.c.Set(ctx, key, value, 0).Err()
}

func (g goredisClient) close() { _ = g.c.Close() }
