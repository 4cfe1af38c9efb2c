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
	addr string // the node's
	slot int    // the watched keys'
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
// for one that blocks or waits (BLPOP, WAIT...; with a timeout of 0 it waits as long as ctx), and
// its sends again after CLUSTERDOWN by CommandTimeout more, past what a blocking one waits on its
// server each time (see WatchTx.Do).
//
// A WATCH that meets the slot moving (MOVED), a transient cluster state, or a master it cannot
// reach (a failover) or that left the map, is sent again, to the slot's master by a newer map,
// until CommandTimeout; fn has not run then. One that meets ASK or TRYAGAIN (the slot being
// migrated, the keys gone to the target) waits for the migration to end, within CommandTimeout:
// fn's other keys may still be on the source, where ASKING on the target would not find them.
// Once fn runs, a command that meets the slot moving fails with that error; an Exec refused for a
// MOVED of the watched slot or CLUSTERDOWN with one matching ErrTxFailed too (nothing ran):
// running Watch again follows the slot, or waits. A command of fn's that meets CLUSTERDOWN is
// sent again for about CommandTimeout (see WatchTx.Do). Close, while Watch waits for its
// connection or runs fn, fails it with an error matching ErrClientClosed. Watch with no keys
// fails at once, with an error that matches none of the package's, and runs nothing.
func (c *Cluster) Watch(ctx context.Context, fn func(tx *WatchTx) error, keys ...string) error {
	start := time.Now()
	tx, addr, err := c.watchKeys(ctx, keys)
	// Reported once, with what the caller gets, however many times it was sent (redirects, a
	// migration waited out, a lost connection), at the node it was sent to last ("" for none).
	c.commandDone(ctx, []any{"WATCH"}, addr, start, err)
	if err != nil {
		return err
	}
	defer tx.d.Release()
	return fn(tx)
}

// watchKeys checks keys, then returns what watched does.
func (c *Cluster) watchKeys(ctx context.Context, keys []string) (*WatchTx, string, error) {
	if len(keys) == 0 {
		return nil, "", errors.New("actoredis: Watch needs at least one key")
	}
	slot := GetSlot(keys[0])
	for _, k := range keys[1:] {
		if GetSlot(k) != slot {
			return nil, "", fmt.Errorf("actoredis: WATCH: %w", dispatcher.ErrCrossSlotChecked)
		}
	}
	return c.watched(ctx, slot, keys)
}

// watched returns a dedicated connection to the node serving slot on which WATCH keys ran,
// following the slot as the map learns where it went, and an ASK to the node importing it; and
// the address of the node it sent WATCH to last ("" for none).
func (c *Cluster) watched(caller context.Context, slot int, keys []string) (_ *WatchTx, sentTo string, _ error) {
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
			return nil, sentTo, fmt.Errorf("actoredis: WATCH: %w", c.notRunning())
		}
		err := fmt.Errorf("actoredis: WATCH: slot %d: %w", slot, ErrNoRoute)
		migrating := false
		if target := rt.smap.Snapshot().Master(slot); target != nil {
			tx := &WatchTx{c: c, addr: target.Addr, slot: slot}
			if tx.d, err = target.Node.Dedicated(ctx); err == nil {
				// The caller's ctx: the connection bounds the WATCH by CommandTimeout itself, and
				// says ErrTimeout when that passes.
				sentTo = target.Addr
				if _, err = tx.run(caller, watch); err == nil { // Watch reports it
					return tx, sentTo, nil
				}
				tx.d.Release()
			} else if why := c.closedBy(err); why != nil {
				err = fmt.Errorf("%w: WATCH: %w", why, err) // Close, or the node left the map
			}
			var se *resp.Error
			if errors.As(err, &se) && node.Returnable(se) {
				migrating = se.Prefix == "ASK" || se.Prefix == "TRYAGAIN"
				if err == error(se) { //nolint:errorlint // the server's reply, bare: named, as the last error of a WATCH that gives up
					err = &CommandError{Addr: target.Addr, Command: "WATCH", Err: se}
				}
			} else if !watchAgain(caller, ctx, err) {
				return nil, sentTo, watchEnded(caller, ctx, err)
			}
		}
		if !migrating { // a migration ends on its own; a new map says nothing of it
			rt.smap.Refresh()
		}
		switch why := c.pause(ctx, dispatcher.Backoff(tries+1)); { // the slot stayed migrating, or unserved
		case errors.Is(why, ErrClientClosed):
			return nil, sentTo, fmt.Errorf("actoredis: WATCH: %w (last: %w)", why, err)
		case why != nil:
			return nil, sentTo, boundEnded(caller, "WATCH", err)
		}
	}
}

// watchEnded says why WATCH, bounded by ctx (caller's, bounded by CommandTimeout), failed with err
// for good: a server's answer or Close as they are; else the caller's ctx ended (its deadline
// passed: a dial's socket deadline, taken from it, may say so a hair before its timer does), or
// else CommandTimeout passed, or err.
func watchEnded(caller, ctx context.Context, err error) error {
	var se *resp.Error
	if errors.As(err, &se) || errors.Is(err, ErrClientClosed) {
		return err // the server's answer, or Close: whatever ctx did meanwhile
	}
	switch why := ended(caller); {
	case why != nil && !errors.Is(err, why):
		return fmt.Errorf("actoredis: WATCH: %w (%w)", why, err)
	case why == nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) && !errors.Is(err, ErrTimeout):
		return fmt.Errorf("actoredis: WATCH: %w (%w)", ErrTimeout, err)
	}
	return err
}

// watchAgain says whether WATCH, which failed with err, is worth sending again (by a newer map):
// its node could not be reached (a dial refused by a master that died, a connection lost), or it
// left the map; while ctx, bounded by CommandTimeout, lasts. WATCH changes nothing on its server.
// A server's error, a pool full of connections in use, Close or an ended ctx are the answer.
func watchAgain(caller, ctx context.Context, err error) bool {
	_, reply := node.ReplyError(err) // not the handshake's refusal of a new connection
	return caller.Err() == nil && ctx.Err() == nil && !reply &&
		!errors.Is(err, ErrClientClosed) && !errors.Is(err, ErrBlockingPoolFull) &&
		!errors.Is(err, ErrTimeout) && !errors.Is(err, os.ErrDeadlineExceeded)
}

// learn tells the map where slot went when se is a MOVED.
func (c *Cluster) learn(rt *running, se *resp.Error) {
	if rd, ok, _ := resp.ParseRedirect(se); ok && !rd.Ask {
		rt.sys.Root().Send(rt.smap.PID(), &slotmap.Moved{Slot: rd.Slot, Addr: rd.Addr()})
		rt.smap.Refresh()
	}
}

// runAgain says whether se, met by Exec, ran nothing and a new run of Watch gets past it: the
// watched slot moved (MOVED: the map has learnt where), or the cluster is down (CLUSTERDOWN: a
// new WATCH meets it too, and waits). Not a migration (ASK, TRYAGAIN): a new WATCH of keys still
// on the source succeeds at once, and its Exec meets the same, so a caller retrying on
// ErrTxFailed would spin until the migration ends.
func (tx *WatchTx) runAgain(se *resp.Error) bool {
	if rd, ok, _ := resp.ParseRedirect(se); ok {
		return !rd.Ask && rd.Slot == tx.slot
	}
	return errors.Is(se, ErrClusterDown)
}

// notRun restates err, a connection failure before EXEC was written, for the transaction, which
// did not run: a command of it written before the failure was only queued.
func (tx *WatchTx) notRun(err error) error {
	var ce *node.ConnError
	if !errors.As(err, &ce) || !ce.Written {
		return err
	}
	notRun := &node.ConnError{Addr: ce.Addr, Command: "transaction (at " + ce.Command + ")", Err: ce.Err}
	if why := tx.c.closedBy(notRun); why != nil {
		return fmt.Errorf("%w: %w", why, notRun)
	}
	return notRun
}

// Do runs cmd on the watched connection and returns its reply; a server error is the error (a MOVED
// or ASK named with the node and the command, and one for a key in another slot than the watched
// keys', which this node does not serve, matching ErrCrossSlot too), but for CLUSTERDOWN (a master
// failed, its replica not promoted yet), after which the command is sent again, with backoff, for
// up to CommandTimeout from the first CLUSTERDOWN: the server ran nothing, and the WATCH holds (a
// blocking command the server let go of so waits its own timeout again, which does not count). A
// command whose wait for its reply fails (its ctx ends, it times out, the connection is lost)
// leaves the connection in a state nobody knows: every later command of the WatchTx, Exec's
// included, fails with ErrConnection, unsent. MULTI, EXEC and DISCARD are refused with
// ErrUnsupportedCommand: the transaction is Exec's. So is a command that would break or reset the
// connection, before it is written: the subscribe family, MONITOR, SYNC, PSYNC, REPLCONF, CLIENT
// REPLY, RESET, HELLO, AUTH, READONLY, READWRITE and QUIT.
func (tx *WatchTx) Do(ctx context.Context, cmd Command) (resp.Value, error) {
	// Reported once, with what the caller gets, however many times CLUSTERDOWN had it sent.
	return tx.c.reported(ctx, cmd.args, tx.addr, func() (resp.Value, error) {
		switch name := node.CommandName(cmd.args); name {
		case "MULTI", "EXEC", "DISCARD":
			return resp.Value{}, fmt.Errorf("actoredis: WatchTx.Do: %s: %w (use Exec)", name, ErrUnsupportedCommand)
		}
		args, err := bindOwn(cmd.args)
		if err != nil {
			return resp.Value{}, err
		}
		v, err := tx.runThroughClusterDown(ctx, args...)
		return v, tx.redirected(args, err)
	})
}

// redirected names the node and the command of a MOVED or ASK that Do met, and says what it
// means: the watched slot is moving or has moved, or the command's key is in a slot the node does
// not serve (that error matches ErrCrossSlot too). Other errors are returned as they are.
func (tx *WatchTx) redirected(args []any, err error) error {
	var se *resp.Error
	if !errors.As(err, &se) {
		return err
	}
	rd, ok, bad := resp.ParseRedirect(se)
	if !ok || bad != nil {
		return err // a malformed one says nothing of its slot
	}
	at := fmt.Sprintf("actoredis: node %s: %s", tx.addr, node.CommandName(args))
	switch {
	case rd.Slot != tx.slot:
		return fmt.Errorf("%s: its slot %d is not the watched keys' (%d), and the node does not serve it: %w (%w)",
			at, rd.Slot, tx.slot, err, dispatcher.ErrCrossSlotChecked)
	case rd.Ask:
		return fmt.Errorf("%s: the watched slot %d is being migrated: %w", at, tx.slot, err)
	}
	return fmt.Errorf("%s: the watched slot %d has moved: %w", at, tx.slot, err)
}

// runThroughClusterDown is run, sending the command again, with backoff, while the server answers
// CLUSTERDOWN (a master failed and its replica is not promoted yet), for up to CommandTimeout from
// the first: the server ran nothing, and the WATCH holds. A blocking command sent again waits its
// own timeout again, and the time the server held it does not count.
func (tx *WatchTx) runThroughClusterDown(ctx context.Context, args ...any) (resp.Value, error) {
	// CommandTimeout from the first CLUSTERDOWN, pushed back by the time the server held a blocking
	// command before it let go of it with a later one.
	var deadline time.Time
	var down error // the last CLUSTERDOWN
	for tries := 1; ; tries++ {
		sent := time.Now()
		v, err := tx.run(ctx, args)
		var se *resp.Error
		if !errors.As(err, &se) || !errors.Is(se, ErrClusterDown) || !node.Refused(args, se, tx.addr, tx.c.mapTarget, slotmap.Slot) {
			if why := ctx.Err(); down != nil && why != nil && errors.Is(err, why) {
				err = fmt.Errorf("%w; last error: %w", err, down) // ctx ended as it was sent again
			}
			return v, err // a script's own CLUSTERDOWN is its reply (see node.Refused)
		}
		down = err
		now := time.Now()
		switch {
		case deadline.IsZero():
			deadline = now.Add(tx.c.opts.CommandTimeout)
		case node.Blocks(args):
			deadline = deadline.Add(now.Sub(sent))
		}
		why := ctx.Err()
		if d := min(dispatcher.Backoff(tries), deadline.Sub(now)); why == nil && d > 0 {
			if why = tx.c.pause(ctx, d); why == nil {
				continue
			}
		} else if why == nil {
			why = fmt.Errorf("%w after %d tries", ErrTimeout, tries)
		}
		return v, fmt.Errorf("actoredis: node %s: %s: %w; last error: %w", tx.addr, node.CommandName(args), why, err)
	}
}

// do runs one command on the watched connection. A MOVED tells the map where the slot went; a
// command that failed because the node was closed says why (ErrClientClosed after Close).
func (tx *WatchTx) do(ctx context.Context, args ...any) (resp.Value, error) {
	return tx.c.reported(ctx, args, tx.addr, func() (resp.Value, error) { return tx.run(ctx, args) })
}

// run is do, unreported.
func (tx *WatchTx) run(ctx context.Context, args []any) (resp.Value, error) {
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
// fails the whole with ErrExecAbort, naming it). When a watched key changed since WATCH, the
// watched keys' slot moved (the error matches the MOVED too), or the cluster was down
// (CLUSTERDOWN, which it matches too: a master failed, its replica not promoted yet), nothing
// runs and it returns an error matching ErrTxFailed, and not ErrExecAbort: run Watch again. One
// refused because the slot is being migrated (ASK, TRYAGAIN: a key of the transaction has left
// the node), or for a key in another slot that this node does not serve (MOVED), matches
// ErrExecAbort and that error, not ErrTxFailed: a new run would meet the same (until the
// migration ends, for ASK and TRYAGAIN). A connection that fails before EXEC is written ran
// nothing: the error says so (WasWritten is false). It may be called once per Watch.
func (tx *WatchTx) Exec(ctx context.Context, cmds ...Command) ([]resp.Value, error) {
	if tx.done {
		return nil, tx.refused(ctx, errors.New("actoredis: WatchTx.Exec called twice: the WATCH ended with the first"))
	}
	bound := make([][]any, len(cmds))
	for i, cmd := range cmds {
		args, err := bindTx(i, cmd)
		if err != nil {
			return nil, tx.refused(ctx, err) // nothing sent: the WATCH still holds, and Exec may be called again
		}
		bound[i] = args
	}
	tx.done = true
	if _, err := tx.do(ctx, "MULTI"); err != nil {
		return nil, tx.notRun(err)
	}
	queued := make([]resp.Value, len(cmds))
	// The watched slot moved, or the cluster is down: EXEC refuses the whole, and a new run
	// follows the slot, or waits for the cluster.
	var again error
	for i, args := range bound {
		if _, err := tx.do(ctx, args...); err != nil {
			var se *resp.Error
			if !errors.As(err, &se) {
				return nil, tx.notRun(err) // the connection failed: nothing ran, and it is dropped
			}
			queued[i] = resp.ErrorValue(se.Prefix, se.Msg) // EXEC will refuse the whole
			if again == nil && tx.runAgain(se) {
				again = fmt.Errorf("command %d, %s: %w", i+1, node.CommandName(bound[i]), se)
			}
		}
	}
	start := time.Now()
	v, err := tx.run(ctx, []any{"EXEC"})
	out, err := tx.executed(v, err, queued, cmds, again)
	tx.c.commandDone(ctx, []any{"EXEC"}, tx.addr, start, err) // with what the caller gets: ErrTxFailed...
	return out, err
}

// refused reports err, an Exec refused before anything was sent, as a transaction of Tx refused so
// is reported ("MULTI"), and returns it.
func (tx *WatchTx) refused(ctx context.Context, err error) error {
	tx.c.commandDone(ctx, []any{"MULTI"}, tx.addr, time.Now(), err)
	return err
}

// executed is what Exec returns for EXEC's reply v or error err, with queued the replies of the
// commands queued (an error in the place of one refused), and again why a new run of Watch would
// get past a refusal of the whole (nil for none).
func (tx *WatchTx) executed(v resp.Value, err error, queued []resp.Value, cmds []Command, again error) ([]resp.Value, error) {
	switch {
	case err != nil:
		var se *resp.Error
		if !errors.As(err, &se) {
			return nil, err
		}
		// The map has learnt where the watched slot went: a new run of Watch goes there, and the
		// error matches the MOVED, not ErrExecAbort. (An ASK or a TRYAGAIN says the slot is being
		// migrated: a new run would meet it again; a MOVED for a key in another slot, on another
		// node, would come again too.)
		switch {
		case tx.runAgain(se):
			return nil, fmt.Errorf("%w: actoredis: node %s: transaction: EXEC: %w", ErrTxFailed, tx.addr, err)
		case again != nil:
			return nil, fmt.Errorf("%w: actoredis: node %s: transaction: %v (%w)", ErrTxFailed, tx.addr, err, again)
		}
		err = refused(tx.addr, err, queued, cmds)
		if !errors.Is(err, ErrExecAbort) { // EXEC itself refused: a redirect, TRYAGAIN...
			err = fmt.Errorf("%w: %w", ErrExecAbort, err)
		}
		return nil, err
	case v.IsNull():
		return nil, fmt.Errorf("actoredis: node %s: EXEC (slot %d): %w", tx.addr, tx.slot, ErrTxFailed)
	}
	return v.Array(), nil
}
