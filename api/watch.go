package api

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/actoredis/actoredis/dispatcher"
	"github.com/actoredis/actoredis/node"
	"github.com/actoredis/actoredis/resp"
	"github.com/actoredis/actoredis/slotmap"
)

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
// given back to the pool. Each command on it is bounded by CommandTimeout, past its own timeout
// for one that blocks or waits (BLPOP, WAIT...; with a timeout of 0 it waits as long as ctx).
//
// A WATCH that meets the slot moving (MOVED) or a transient cluster state is sent again, to the
// slot's master by a newer map, until CommandTimeout; fn has not run then. One that meets ASK or
// TRYAGAIN (the slot being migrated, the keys gone to the target) waits for the migration to end,
// within CommandTimeout: fn's other keys may still be on the source, where ASKING on the target
// would not find them. Once fn runs, a command that meets the slot moving fails with that error;
// an Exec refused for a MOVED with one matching ErrTxFailed too (nothing ran), as the map has
// learnt where the slot went and running Watch again follows it.
func (c *Cluster) Watch(ctx context.Context, fn func(tx *WatchTx) error, keys ...string) error {
	if len(keys) == 0 {
		return errors.New("actoredis: Watch needs at least one key")
	}
	slot := GetSlot(keys[0])
	for _, k := range keys[1:] {
		if GetSlot(k) != slot {
			return fmt.Errorf("actoredis: WATCH: %w", dispatcher.ErrCrossSlotChecked)
		}
	}
	tx, err := c.watched(ctx, slot, keys)
	if err != nil {
		return err
	}
	defer tx.d.Release()
	return fn(tx)
}

// watched returns a dedicated connection to the node serving slot on which WATCH keys ran,
// following the slot as the map learns where it went, and an ASK to the node importing it.
func (c *Cluster) watched(caller context.Context, slot int, keys []string) (*WatchTx, error) {
	ctx, cancel := context.WithTimeout(caller, c.opts.CommandTimeout)
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
		err := fmt.Errorf("actoredis: WATCH: slot %d: %w", slot, ErrNoRoute)
		migrating := false
		if target := rt.smap.Snapshot().Master(slot); target != nil {
			tx := &WatchTx{c: c}
			if tx.d, err = target.Node.Dedicated(ctx); err == nil {
				// The caller's ctx: the connection bounds the WATCH by CommandTimeout itself, and
				// says ErrTimeout when that passes.
				if _, err = tx.do(caller, watch...); err == nil {
					return tx, nil
				}
				tx.d.Release()
			}
			var se *resp.Error
			if !errors.As(err, &se) || !node.Returnable(se) {
				// CommandTimeout passed (a dial's socket deadline may say so a hair before ctx does),
				// not the caller's ctx.
				if caller.Err() == nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) &&
					!errors.Is(err, ErrTimeout) {
					err = fmt.Errorf("actoredis: WATCH: %w (%w)", ErrTimeout, err)
				}
				return nil, err
			}
			migrating = se.Prefix == "ASK" || se.Prefix == "TRYAGAIN"
		}
		if !migrating { // a migration ends on its own; a new map says nothing of it
			rt.smap.Refresh()
		}
		wait := time.NewTimer(dispatcher.Backoff(tries + 1))
		select {
		case <-ctx.Done(): // the slot stayed migrating, or unserved
			wait.Stop()
			return nil, boundEnded(caller, "WATCH", err)
		case <-wait.C:
		}
	}
}

// learn tells the map where slot went when se is a MOVED.
func (c *Cluster) learn(rt *running, se *resp.Error) {
	if rd, ok, _ := resp.ParseRedirect(se); ok && !rd.Ask {
		rt.sys.Root().Send(rt.smap.PID(), &slotmap.Moved{Slot: rd.Slot, Addr: rd.Addr()})
		rt.smap.Refresh()
	}
}

// Do runs cmd on the watched connection and returns its reply; a server error is the error.
// MULTI, EXEC and DISCARD are refused with ErrUnsupportedCommand: the transaction is Exec's.
func (tx *WatchTx) Do(ctx context.Context, cmd Command) (resp.Value, error) {
	switch name := node.CommandName(cmd.args); name {
	case "MULTI", "EXEC", "DISCARD":
		return resp.Value{}, fmt.Errorf("actoredis: WatchTx.Do: %s: %w (use Exec)", name, ErrUnsupportedCommand)
	}
	args, err := bindOwn(cmd.args)
	if err != nil {
		return resp.Value{}, err
	}
	return tx.do(ctx, args...)
}

// do runs one command on the watched connection. A MOVED tells the map where the slot went; a
// command that failed because the node was closed says why (ErrClientClosed after Close).
func (tx *WatchTx) do(ctx context.Context, args ...any) (resp.Value, error) {
	v, err := tx.d.Do(ctx, args...)
	var se *resp.Error
	if errors.As(err, &se) {
		if rt := tx.c.run.Load(); rt != nil {
			tx.c.learn(rt, se)
		}
	}
	if why := tx.c.closedBy(err); why != nil {
		err = fmt.Errorf("%w: %w", why, err)
	}
	return v, err
}

// Exec runs cmds as MULTI ... EXEC, and returns each command's reply as Cluster.Tx does (a
// command failing as it runs has an error value in its place; one the server refused to queue
// fails the whole with ErrExecAbort, naming it). When a watched key changed since WATCH, or the
// slot moved (the error matches the MOVED too), nothing runs and it returns an error matching
// ErrTxFailed: run Watch again. One refused because the slot is being migrated (ASK, TRYAGAIN: a
// key of the transaction has left the node) matches ErrExecAbort and that error, not ErrTxFailed:
// a new run would meet the same until the migration ends. It may be called once per Watch.
func (tx *WatchTx) Exec(ctx context.Context, cmds ...Command) ([]resp.Value, error) {
	if tx.done {
		return nil, errors.New("actoredis: WatchTx.Exec called twice: the WATCH ended with the first")
	}
	bound := make([][]any, len(cmds))
	for i, cmd := range cmds {
		args, err := bindTx(i, cmd)
		if err != nil {
			return nil, err // nothing sent: the WATCH still holds, and Exec may be called again
		}
		bound[i] = args
	}
	tx.done = true
	if _, err := tx.do(ctx, "MULTI"); err != nil {
		return nil, err
	}
	queued := make([]resp.Value, len(cmds))
	moved := false // a command met the slot moving: EXEC refuses the whole, and a new run follows it
	for i, args := range bound {
		if _, err := tx.do(ctx, args...); err != nil {
			var se *resp.Error
			if !errors.As(err, &se) {
				return nil, err // the connection failed: nothing ran, and it is dropped
			}
			queued[i] = resp.ErrorValue(se.Prefix, se.Msg) // EXEC will refuse the whole
			moved = moved || se.Prefix == "MOVED"
		}
	}
	v, err := tx.do(ctx, "EXEC")
	switch {
	case err != nil:
		var se *resp.Error
		if !errors.As(err, &se) {
			return nil, err
		}
		if moved || se.Prefix == "MOVED" {
			// The map has learnt where the slot went: a new run of Watch goes there. (An ASK or
			// a TRYAGAIN says the slot is being migrated: a new run would meet it again.)
			return nil, fmt.Errorf("%w: %w", ErrTxFailed, refused(err, queued, cmds))
		}
		return nil, refused(err, queued, cmds)
	case v.IsNull():
		return nil, ErrTxFailed
	}
	return v.Array(), nil
}
