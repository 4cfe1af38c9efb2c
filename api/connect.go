package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
)

// contacts records, while Connect runs, how each node's connection went: ready, or its last
// dial's error (see awaitAMaster). Node events arrive on the nodes' goroutines.
type contacts struct {
	mu     sync.Mutex
	by     map[string]error // address → nil once a connection was ready, else the last connect error
	change chan struct{}    // signalled, without blocking, on each record
	done   bool             // Connect has returned: nothing more is recorded (see stop)
}

// stop ends the record once Connect no longer reads it: the node events go on for the client's
// life, and an entry per address ever dialled, each failure's error chain with it, would be kept
// for as long (about 0.4 KB per address, a review measured).
func (k *contacts) stop() {
	k.mu.Lock()
	k.done, k.by = true, nil
	k.mu.Unlock()
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
	if k.done {
		k.mu.Unlock()
		return
	}
	if prev, seen := k.by[e.Addr]; !seen || prev != nil { // once ready, reached
		k.by[e.Addr] = err
	}
	k.mu.Unlock()
	select {
	case k.change <- struct{}{}:
	default:
	}
}

// awaitAMaster returns once a master of rt's map has had a connection ready, with its address. It
// fails when
// none is ready within ConnectTimeout, or sooner when every master's dial has failed for good (an
// address no resolver knows, credentials refused; the addresses the cluster announces may not be
// reachable from here, behind a NAT or in a container network: see NodeAddressMap). The error
// matches ErrConnection and each master's failure. A map with no master the client can reach
// (each announced with no endpoint) is no failure here (the address is then ""): commands for
// their slots fail with ErrNoRoute, saying why.
func (c *Cluster) awaitAMaster(ctx context.Context, rt *running, k *contacts) (string, error) {
	timer := time.NewTimer(c.opts.ConnectTimeout)
	defer timer.Stop()
	for timedOut := false; ; {
		masters := rt.smap.Snapshot().ServingMasters() // a master serving no slot serves no command
		var failed []error
		permanent := len(masters) > 0
		k.mu.Lock()
		for _, m := range masters {
			err, seen := k.by[m.Addr]
			switch {
			case seen && err == nil || m.Node.Connected():
				k.mu.Unlock()
				return m.Addr, nil
			case seen:
				failed = append(failed, err)
				permanent = permanent && lastingConnectError(err)
			default:
				permanent = false
			}
		}
		k.mu.Unlock()
		if len(masters) == 0 {
			// None the client can reach by the map (announced without an endpoint: "?"): each
			// command for their slots fails with ErrNoRoute, naming why.
			return "", nil
		}
		if permanent || timedOut {
			if len(failed) == 0 {
				failed = append(failed, fmt.Errorf("no connection ready within ConnectTimeout (%s)", c.opts.ConnectTimeout))
			}
			return "", noMaster(nil, failed)
		}
		select {
		case <-k.change:
		case <-timer.C:
			timedOut = true
		case <-ctx.Done():
			if len(failed) > 0 { // what the masters said so far, with why Connect stopped waiting
				return "", noMaster(ctx.Err(), failed)
			}
			return "", ctx.Err()
		}
	}
}

// noMaster is Connect's error when no master could be reached: it matches ErrConnection, each of
// failed, and why, if not nil (the caller's ctx ended first).
func noMaster(why error, failed []error) error {
	format := "actoredis: Connect: no master of the cluster could be reached (do the addresses it announces " +
		"need ClusterOptions.NodeAddressMap?): %w: " + strings.TrimSuffix(strings.Repeat("%w; ", len(failed)), "; ")
	args := []any{ErrConnection}
	if why != nil {
		format = "actoredis: Connect: %w; " + strings.TrimPrefix(format, "actoredis: Connect: ")
		args = []any{why, ErrConnection}
	}
	for _, err := range failed {
		args = append(args, err)
	}
	return fmt.Errorf(format, args...)
}

// lastingConnectError reports whether a node's connect error will come again at the next dial:
// a host no resolver knows, or the server refusing the credentials or a command of the handshake
// (WRONGPASS, NOAUTH, NOPERM). A refused or reset connection may be a server restarting, or a
// proxy; another server error (LOADING, BUSY...) may pass.
func lastingConnectError(err error) bool {
	var dns *net.DNSError
	return errors.As(err, &dns) && dns.IsNotFound ||
		errors.Is(err, resp.ErrWrongPass) || errors.Is(err, resp.ErrNoAuth) || errors.Is(err, resp.ErrNoPerm)
}
