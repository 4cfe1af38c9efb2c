package api

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

// errWatchCrossSlot: Watch's keys are in several slots.
var errWatchCrossSlot = &resp.Error{Prefix: "CROSSSLOT", Msg: "Keys in request don't hash to the same slot (checked by the client)"}

// WatchTx is the connection Watch lends its function: a connection of its own to the master of
// the watched keys' slot, on which WATCH ran. Read with Do, then run the writes with Exec. It is
// valid only during that function, for one goroutine.
type WatchTx struct {
	c    *Cluster
	d    *node.Dedicated
	done bool
}

// Watch runs fn for an optimistic transaction (check and set) on keys, which must share one
// slot (use a {hash tag}; several fail with an error matching ErrCrossSlot). It takes a
// connection of its own to the slot's master from the blocking pool (ClusterOptions.MaxBlockingConns,
// waiting up to CommandTimeout for one: ErrBlockingPoolFull), sends WATCH keys, and runs fn with it.
// fn reads with tx.Do and ends with tx.Exec, which runs its commands as MULTI ... EXEC only if no
// watched key changed since WATCH: otherwise Exec returns ErrTxFailed, and the caller may run
// Watch again. Watch returns what fn returns; the connection is reset (UNWATCH, DISCARD) and
// given back to the pool.
//
// A WATCH that meets the slot moving (MOVED, ASK, TRYAGAIN) or a transient cluster state is sent
// again, to the slot's master by a newer map, until CommandTimeout; fn has not run then. Once fn
// runs, a command in it that meets the slot moving fails with that error: run Watch again.
func (c *Cluster) Watch(ctx context.Context, fn func(tx *WatchTx) error, keys ...string) error {
	if len(keys) == 0 {
		return errors.New("actoredis: Watch needs at least one key")
	}
	slot := GetSlot(keys[0])
	for _, k := range keys[1:] {
		if GetSlot(k) != slot {
			return fmt.Errorf("actoredis: WATCH: %w", errWatchCrossSlot)
		}
	}
	d, err := c.watched(ctx, slot, keys)
	if err != nil {
		return err
	}
	defer d.Release()
	return fn(&WatchTx{c: c, d: d})
}

// watched returns a dedicated connection to slot's master on which WATCH keys ran, following
// the slot as the map learns where it went.
func (c *Cluster) watched(ctx context.Context, slot int, keys []string) (*node.Dedicated, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.CommandTimeout)
	defer cancel()
	watch := make([]any, 0, 1+len(keys))
	watch = append(watch, "WATCH")
	for _, k := range keys {
		watch = append(watch, k)
	}
	for tries := 0; ; tries++ {
		rt := c.run.Load()
		if rt == nil {
			return nil, fmt.Errorf("actoredis: WATCH: %w", ErrClientClosed)
		}
		var err error
		if master := rt.smap.Snapshot().Master(slot); master == nil {
			err = fmt.Errorf("actoredis: WATCH: slot %d: %w", slot, ErrNoRoute)
		} else {
			var d *node.Dedicated
			if d, err = master.Node.Dedicated(ctx); err == nil {
				if _, err = d.Do(ctx, watch...); err == nil {
					return d, nil
				}
				d.Release()
			}
			var se *resp.Error
			if !errors.As(err, &se) || !node.Returnable(se) {
				if why := c.closedBy(err); why != nil {
					err = fmt.Errorf("%w: %w", why, err)
				}
				return nil, err
			}
			if rd, ok, _ := resp.ParseRedirect(se); ok && !rd.Ask {
				if rd.Host == "" { // the server means its own host, as the client reached it
					rd.Host, _, _ = net.SplitHostPort(master.Addr)
				}
				rt.sys.Root().Send(rt.smap.PID(), &slotmap.Moved{Slot: rd.Slot, Addr: rd.Addr()})
			}
		}
		rt.smap.Refresh()
		wait := time.NewTimer(min(10*time.Millisecond<<min(tries, 6), time.Second)/2 + rand.N(5*time.Millisecond))
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-wait.C:
		}
	}
}

// Do runs cmd on the watched connection and returns its reply; a server error is the error.
// MULTI, EXEC and DISCARD are refused with ErrUnsupportedCommand: the transaction is Exec's.
func (tx *WatchTx) Do(ctx context.Context, cmd Command) (resp.Value, error) {
	switch name := node.CommandName(cmd.args); name {
	case "MULTI", "EXEC", "DISCARD":
		return resp.Value{}, fmt.Errorf("actoredis: WatchTx.Do: %s: %w (use Exec)", name, ErrUnsupportedCommand)
	}
	args, err := bindTo(cmd.args, make([]argSlot, len(cmd.args)), make([]any, len(cmd.args)))
	if err != nil {
		return resp.Value{}, err
	}
	return tx.do(ctx, args...)
}

// do runs one command on the watched connection; one that failed because the node was closed
// says why (ErrClientClosed after Close).
func (tx *WatchTx) do(ctx context.Context, args ...any) (resp.Value, error) {
	v, err := tx.d.Do(ctx, args...)
	if why := tx.c.closedBy(err); why != nil {
		err = fmt.Errorf("%w: %w", why, err)
	}
	return v, err
}

// Exec runs cmds as MULTI ... EXEC, and returns each command's reply as Cluster.Tx does (a
// command failing as it runs has an error value in its place; one the server refused to queue
// fails the whole with ErrExecAbort, naming it). When a watched key changed since WATCH, nothing
// runs and it returns ErrTxFailed. It may be called once per Watch.
func (tx *WatchTx) Exec(ctx context.Context, cmds ...Command) ([]resp.Value, error) {
	if tx.done {
		return nil, errors.New("actoredis: WatchTx.Exec called twice: the WATCH ended with the first")
	}
	tx.done = true
	bound := make([][]any, len(cmds))
	for i, cmd := range cmds {
		args, err := bindTx(i, cmd)
		if err != nil {
			return nil, err
		}
		bound[i] = args
	}
	if _, err := tx.do(ctx, "MULTI"); err != nil {
		return nil, err
	}
	queued := make([]resp.Value, len(cmds))
	for i, args := range bound {
		if _, err := tx.do(ctx, args...); err != nil {
			var se *resp.Error
			if !errors.As(err, &se) {
				return nil, err // the connection failed: nothing ran, and it is dropped
			}
			queued[i] = resp.ErrorValue(se.Prefix, se.Msg) // EXEC will refuse the whole
		}
	}
	v, err := tx.do(ctx, "EXEC")
	switch {
	case err != nil:
		var se *resp.Error
		if errors.As(err, &se) {
			return nil, refused(err, queued, cmds)
		}
		return nil, err
	case v.IsNull():
		return nil, ErrTxFailed
	}
	return v.Array(), nil
}
