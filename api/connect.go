package api

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/actoredis/actoredis/node"
)

// contacts records, while Connect runs, how each node's connection went: ready, or its last
// dial's error (see awaitAMaster). Node events arrive on the nodes' goroutines.
type contacts struct {
	mu     sync.Mutex
	by     map[string]error // address → nil once a connection was ready, else the last connect error
	change chan struct{}    // signalled, without blocking, on each record
}

func newContacts() *contacts {
	return &contacts{by: map[string]error{}, change: make(chan struct{}, 1)}
}

// note records e, a node's event, when it says how a connection went.
func (k *contacts) note(e node.Event) {
	var err error
	switch e.Type {
	case node.EventReady:
	case node.EventError:
		err = namingNode(e)
	default:
		return
	}
	k.mu.Lock()
	if prev, seen := k.by[e.Addr]; !seen || prev != nil { // once ready, reached
		k.by[e.Addr] = err
	}
	k.mu.Unlock()
	select {
	case k.change <- struct{}{}:
	default:
	}
}

// awaitAMaster returns once a master of rt's map has had a connection ready, and fails when
// every master's dial has failed, or when none is ready within ConnectTimeout: the addresses the
// cluster announces cannot be reached from here (a NAT, a container network: see
// NodeAddressMap). The error matches ErrConnection and names each master's failure.
func (c *Cluster) awaitAMaster(ctx context.Context, rt *running, k *contacts) error {
	timer := time.NewTimer(c.opts.ConnectTimeout)
	defer timer.Stop()
	for timedOut := false; ; {
		masters := rt.smap.Snapshot().Masters()
		var failed []string
		k.mu.Lock()
		for _, m := range masters {
			err, seen := k.by[m.Addr]
			switch {
			case seen && err == nil || m.Node.Connected():
				k.mu.Unlock()
				return nil
			case seen:
				failed = append(failed, err.Error())
			}
		}
		k.mu.Unlock()
		if len(masters) == 0 || len(failed) == len(masters) || timedOut {
			if len(failed) == 0 {
				failed = append(failed, fmt.Sprintf("no connection ready within ConnectTimeout (%s)", c.opts.ConnectTimeout))
			}
			return fmt.Errorf("actoredis: Connect: no master of the cluster could be reached (do the addresses it "+
				"announces need ClusterOptions.NodeAddressMap?): %w: %s", ErrConnection, strings.Join(failed, "; "))
		}
		select {
		case <-k.change:
		case <-timer.C:
			timedOut = true
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
